package noderestriction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver/watchcache"
	"github.com/gantryhq/gantry/store"
)

// Pods answers whether a pod bound to a node refers to an object: the node
// authorizer lets a node agent read a secret, config map, persistent volume
// claim or service account only then.
type Pods interface {
	// Referenced reports whether a pod bound to node in namespace refers
	// to the object of resource ("secrets", "configmaps",
	// "persistentvolumeclaims", "serviceaccounts") named name.
	Referenced(ctx context.Context, node, resource, namespace, name string) (bool, error)
}

// PodIndexOptions configure a PodIndex.
type PodIndexOptions struct {
	// Store is the API server's store. Required.
	Store store.Store
	// Logger receives watch failures; nil means slog.Default().
	Logger *slog.Logger
}

// PodIndex is Pods over an in-memory cache of the store's pods by node
// (package apiserver/watchcache). A reference it does not find in the
// cache is looked for again in the store itself (the pods of that
// namespace), so that a node agent reading a secret right after its pod was
// bound is not refused while the cache catches up. Safe for concurrent use.
type PodIndex struct {
	st    store.Store
	cache *watchcache.Cache[corev1.Pod]
}

var _ Pods = (*PodIndex)(nil)

// NewPodIndex returns an index that is empty until Run has listed.
func NewPodIndex(opts PodIndexOptions) (*PodIndex, error) {
	if opts.Store == nil {
		return nil, errors.New("noderestriction: PodIndexOptions.Store is required")
	}
	c, err := watchcache.New(watchcache.Options[corev1.Pod]{
		Store: opts.Store, Resource: "pods", Namespaced: true, Logger: opts.Logger,
		Index: func(p *corev1.Pod) []string {
			if p.Spec.NodeName == "" {
				return nil
			}
			return []string{p.Spec.NodeName}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("noderestriction: %w", err)
	}
	return &PodIndex{st: opts.Store, cache: c}, nil
}

// Run keeps the index current until ctx is done (it blocks).
func (x *PodIndex) Run(ctx context.Context) error { return x.cache.Run(ctx) }

// WaitForSync blocks until the index has listed the pods once, or ctx is
// done.
func (x *PodIndex) WaitForSync(ctx context.Context) error { return x.cache.WaitForSync(ctx) }

// Referenced implements Pods.
func (x *PodIndex) Referenced(ctx context.Context, node, resource, namespace, name string) (bool, error) {
	for _, p := range x.cache.ByIndex(node) {
		if p.Namespace == namespace && References(p, resource, name) {
			return true, nil
		}
	}
	// Not in the cache: ask the store, which may be ahead of it.
	opts := store.ListOptions{Limit: 500}
	for {
		res, err := x.st.List(ctx, store.ObjectPrefix("pods", namespace), opts)
		if err != nil {
			return false, fmt.Errorf("noderestriction: listing the pods of namespace %q: %w", namespace, err)
		}
		for _, kv := range res.Items {
			var p corev1.Pod
			if err := json.Unmarshal(kv.Value, &p); err != nil {
				return false, fmt.Errorf("noderestriction: decoding %s: %w", kv.Key, err)
			}
			if p.Spec.NodeName == node && References(&p, resource, name) {
				return true, nil
			}
		}
		if res.Continue == "" {
			return false, nil
		}
		opts = store.ListOptions{Limit: 500, Continue: res.Continue}
	}
}

// References reports whether pod refers to the object of resource
// ("secrets", "configmaps", "persistentvolumeclaims", "serviceaccounts")
// named name in its namespace: through a volume (also projected), an
// environment variable of any container, an image pull secret, or its
// service account.
func References(pod *corev1.Pod, resource, name string) bool {
	found := false
	check := func(n string) {
		if n == name {
			found = true
		}
	}
	spec := &pod.Spec
	switch resource {
	case "serviceaccounts":
		return spec.ServiceAccountName == name
	case "persistentvolumeclaims":
		for _, v := range spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				check(v.PersistentVolumeClaim.ClaimName)
			}
			if v.Ephemeral != nil {
				check(pod.Name + "-" + v.Name) // the claim a generic ephemeral volume makes
			}
		}
		return found
	case "secrets":
		for _, s := range spec.ImagePullSecrets {
			check(s.Name)
		}
		for _, v := range spec.Volumes {
			switch {
			case v.Secret != nil:
				check(v.Secret.SecretName)
			case v.Projected != nil:
				for _, src := range v.Projected.Sources {
					if src.Secret != nil {
						check(src.Secret.Name)
					}
				}
			case v.CSI != nil && v.CSI.NodePublishSecretRef != nil:
				check(v.CSI.NodePublishSecretRef.Name)
			}
		}
		eachContainer(spec, func(c *corev1.Container) {
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil {
					check(e.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					check(e.ValueFrom.SecretKeyRef.Name)
				}
			}
		})
		return found
	case "configmaps":
		for _, v := range spec.Volumes {
			switch {
			case v.ConfigMap != nil:
				check(v.ConfigMap.Name)
			case v.Projected != nil:
				for _, src := range v.Projected.Sources {
					if src.ConfigMap != nil {
						check(src.ConfigMap.Name)
					}
				}
			}
		}
		eachContainer(spec, func(c *corev1.Container) {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					check(e.ConfigMapRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					check(e.ValueFrom.ConfigMapKeyRef.Name)
				}
			}
		})
		return found
	}
	return false
}

// eachContainer calls f for every init, regular and ephemeral container.
func eachContainer(spec *corev1.PodSpec, f func(*corev1.Container)) {
	for i := range spec.InitContainers {
		f(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		f(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		c := corev1.Container(spec.EphemeralContainers[i].EphemeralContainerCommon)
		f(&c)
	}
}
