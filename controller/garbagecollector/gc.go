package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/controller"
)

// Name is the controller's name in --controllers.
const Name = "garbagecollector"

// Options configure the collector. Client and Dynamic are required.
type Options struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Ignored resources are neither watched nor collected; nil means
	// events (core and events.k8s.io).
	Ignored []schema.GroupResource
	// Clock and Metrics are handed to the controller.
	Clock   clock.WithTicker
	Metrics *controller.Metrics
}

// Collector is the garbage collector. Start it with Start (blocks).
type Collector struct {
	opts      Options
	resources map[schema.GroupVersionKind]resource
	informers []cache.SharedIndexInformer
}

type resource struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

type node struct {
	obj *unstructured.Unstructured
	res resource
}

var _ controller.Runnable = (*Collector)(nil)
var _ controller.Reconciler = (*Collector)(nil)

// New validates opts and returns a Collector.
func New(opts Options) (*Collector, error) {
	if opts.Client == nil || opts.Dynamic == nil {
		return nil, errors.New("garbagecollector: Options.Client and Dynamic are required")
	}
	if opts.Ignored == nil {
		opts.Ignored = []schema.GroupResource{{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}}
	}
	return &Collector{opts: opts}, nil
}

var scan = controller.Request{NamespacedName: types.NamespacedName{Name: "scan"}}

// Start discovers the resources, watches them and collects garbage until
// ctx is done.
func (g *Collector) Start(ctx context.Context) error {
	lists, err := g.opts.Client.Discovery().ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("garbagecollector: discovery: %w", err)
	}
	g.resources = map[schema.GroupVersionKind]resource{}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: g, Clock: g.opts.Clock, Metrics: g.opts.Metrics})
	if err != nil {
		return err
	}
	f := dynamicinformer.NewDynamicSharedInformerFactory(g.opts.Dynamic, 0)
	all := controller.MapFunc(func(any) []controller.Request { return []controller.Request{scan} })
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if slices.Contains(g.opts.Ignored, gr) {
				continue
			}
			if !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			res := resource{gvr: gv.WithResource(r.Name), namespaced: r.Namespaced}
			g.resources[gv.WithKind(r.Kind)] = res
			inf := f.ForResource(res.gvr).Informer()
			g.informers = append(g.informers, inf)
			if err := c.Watch(inf, all); err != nil {
				return err
			}
		}
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	return c.Start(ctx)
}

// Reconcile scans the cached object graph once.
func (g *Collector) Reconcile(ctx context.Context, _ controller.Request) (controller.Result, error) {
	byUID := map[types.UID]node{}
	deps := map[types.UID][]node{}
	for _, inf := range g.informers {
		for _, o := range inf.GetStore().List() {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			res, ok := g.resources[u.GroupVersionKind()]
			if !ok {
				continue
			}
			n := node{obj: u, res: res}
			byUID[u.GetUID()] = n
			for _, ref := range u.GetOwnerReferences() {
				deps[ref.UID] = append(deps[ref.UID], n)
			}
		}
	}
	var errs []error
	for _, n := range byUID {
		if err := g.collect(ctx, n, byUID, deps); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return controller.Result{}, err
	}
	return controller.Result{}, nil
}

func describe(n node) string {
	if ns := n.obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %q", n.obj.GetKind(), ns+"/"+n.obj.GetName())
	}
	return fmt.Sprintf("%s %q", n.obj.GetKind(), n.obj.GetName())
}

func (g *Collector) client(n node) dynamic.ResourceInterface {
	ri := g.opts.Dynamic.Resource(n.res.gvr)
	if n.res.namespaced {
		return ri.Namespace(n.obj.GetNamespace())
	}
	return ri
}

func (g *Collector) collect(ctx context.Context, n node, byUID map[types.UID]node, deps map[types.UID][]node) error {
	fins := n.obj.GetFinalizers()
	if n.obj.GetDeletionTimestamp() != nil {
		switch {
		case slices.Contains(fins, metav1.FinalizerOrphanDependents):
			for _, d := range deps[n.obj.GetUID()] {
				if err := g.dropOwner(ctx, d, n.obj.GetUID()); err != nil {
					return fmt.Errorf("orphan %s: %w", describe(d), err)
				}
			}
			return g.removeFinalizer(ctx, n, metav1.FinalizerOrphanDependents)
		case slices.Contains(fins, metav1.FinalizerDeleteDependents):
			blocking := 0
			for _, d := range deps[n.obj.GetUID()] {
				if blocks(d, n.obj.GetUID()) {
					blocking++
				}
				if d.obj.GetDeletionTimestamp() == nil {
					policy := metav1.DeletePropagationForeground
					uid := d.obj.GetUID()
					err := g.client(d).Delete(ctx, d.obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
					if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
						return fmt.Errorf("delete %s (dependent of %s): %w", describe(d), describe(n), err)
					}
				}
			}
			if blocking == 0 {
				return g.removeFinalizer(ctx, n, metav1.FinalizerDeleteDependents)
			}
			return nil
		}
	}
	refs := n.obj.GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	var gone []types.UID
	for _, ref := range refs {
		absent, err := g.ownerAbsent(ctx, n, ref, byUID)
		if err != nil {
			return err
		}
		if absent {
			gone = append(gone, ref.UID)
		}
	}
	switch {
	case len(gone) == 0:
		return nil
	case len(gone) == len(refs):
		if n.obj.GetDeletionTimestamp() != nil {
			return nil
		}
		policy := metav1.DeletePropagationBackground
		uid := n.obj.GetUID()
		err := g.client(n).Delete(ctx, n.obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete %s: %w", describe(n), err)
		}
		return nil
	default:
		for _, uid := range gone {
			if err := g.dropOwner(ctx, n, uid); err != nil {
				return fmt.Errorf("%s: drop dangling owner: %w", describe(n), err)
			}
		}
		return nil
	}
}

func blocks(d node, owner types.UID) bool {
	for _, r := range d.obj.GetOwnerReferences() {
		if r.UID == owner && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

// ownerAbsent reports whether the owner ref points to is gone: not in the
// cache and, checked live, not found or with another UID.
func (g *Collector) ownerAbsent(ctx context.Context, n node, ref metav1.OwnerReference, byUID map[types.UID]node) (bool, error) {
	if _, ok := byUID[ref.UID]; ok {
		return false, nil
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false, nil // unknown owner kinds are left alone
	}
	res, ok := g.resources[gv.WithKind(ref.Kind)]
	if !ok {
		for gvk, r := range g.resources {
			if gvk.Group == gv.Group && gvk.Kind == ref.Kind {
				res, ok = r, true
			}
		}
		if !ok {
			return false, nil
		}
	}
	ri := g.opts.Dynamic.Resource(res.gvr)
	var owner *unstructured.Unstructured
	if res.namespaced {
		owner, err = ri.Namespace(n.obj.GetNamespace()).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		owner, err = ri.Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: look up owner %s %q: %w", describe(n), ref.Kind, ref.Name, err)
	}
	return owner.GetUID() != ref.UID, nil
}

func (g *Collector) patch(ctx context.Context, n node, meta map[string]any) error {
	meta["resourceVersion"] = n.obj.GetResourceVersion()
	meta["uid"] = n.obj.GetUID()
	b, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	_, err = g.client(n).Patch(ctx, n.obj.GetName(), types.MergePatchType, b, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (g *Collector) dropOwner(ctx context.Context, n node, owner types.UID) error {
	refs := slices.DeleteFunc(n.obj.GetOwnerReferences(), func(r metav1.OwnerReference) bool { return r.UID == owner })
	if refs == nil {
		refs = []metav1.OwnerReference{}
	}
	return g.patch(ctx, n, map[string]any{"ownerReferences": refs})
}

func (g *Collector) removeFinalizer(ctx context.Context, n node, fin string) error {
	fins := slices.DeleteFunc(slices.Clone(n.obj.GetFinalizers()), func(f string) bool { return f == fin })
	if fins == nil {
		fins = []string{}
	}
	if err := g.patch(ctx, n, map[string]any{"finalizers": fins}); err != nil {
		return fmt.Errorf("%s: remove finalizer %s: %w", describe(n), fin, err)
	}
	return nil
}

// Register adds the collector to m (which needs ManagerOptions.Dynamic).
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		return New(Options{Client: m.Client(), Dynamic: m.Dynamic(), Clock: m.Clock(), Metrics: m.Metrics()})
	}})
}
