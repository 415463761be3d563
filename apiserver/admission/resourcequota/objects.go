package resourcequota

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/store"
)

// Objects lists the objects of one resource in one namespace, for
// computing what they use. Pods and services must be returned typed
// (*corev1.Pod, *corev1.Service); objects of other resources are only
// counted and may be nil. Implementations are safe for concurrent use.
type Objects interface {
	List(ctx context.Context, gr schema.GroupResource, namespace string) ([]runtime.Object, error)
}

// StoreObjects reads objects from the API server's store, where they are
// kept as JSON under /registry/<resource>/<namespace>/. Every call reads
// the store.
type StoreObjects struct {
	Store store.Store
}

var _ Objects = StoreObjects{}

// List implements Objects.
func (s StoreObjects) List(ctx context.Context, gr schema.GroupResource, namespace string) ([]runtime.Object, error) {
	prefix := store.ObjectPrefix(gr.Resource, namespace)
	var out []runtime.Object
	opts := store.ListOptions{Limit: 500}
	for {
		res, err := s.Store.List(ctx, prefix, opts)
		if err != nil {
			return nil, fmt.Errorf("listing %s in namespace %q: %w", gr, namespace, err)
		}
		for _, kv := range res.Items {
			obj, err := decodeFor(gr, kv.Value)
			if err != nil {
				return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
			}
			out = append(out, obj)
		}
		if res.Continue == "" {
			return out, nil
		}
		opts = store.ListOptions{Limit: 500, Continue: res.Continue}
	}
}

// decodeFor decodes the stored objects whose content matters for usage.
func decodeFor(gr schema.GroupResource, value []byte) (runtime.Object, error) {
	var obj runtime.Object
	switch gr {
	case podsResource:
		obj = &corev1.Pod{}
	case servicesResource:
		obj = &corev1.Service{}
	case corev1.Resource("resourcequotas"):
		obj = &corev1.ResourceQuota{}
	default:
		return nil, nil
	}
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// ComputeUsed returns the usage of every resource named in q.Spec.Hard by
// the objects in q's namespace that it selects, listed from objs.
func ComputeUsed(ctx context.Context, objs Objects, q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	used := corev1.ResourceList{}
	resources := map[schema.GroupResource]bool{}
	for name := range q.Spec.Hard {
		if gr, ok := ResourceOf(name); ok {
			resources[gr] = true
		} else {
			used[name] = *resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	for gr := range resources {
		list, err := objs.List(ctx, gr, q.Namespace)
		if err != nil {
			return nil, err
		}
		for name, v := range Zero(q.Spec.Hard, gr) {
			used[name] = v
		}
		for name, v := range Compute(q, gr, list) {
			used[name] = v
		}
	}
	return used, nil
}
