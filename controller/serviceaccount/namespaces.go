package serviceaccount

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/controller"
)

// The service account controller and the root CA publisher each keep one
// named object in every active namespace; these are their shared parts.

// perNamespace returns a controller whose requests name a namespace
// (Request.Name): one for each namespace event, and one for each event of
// an object called object in objects' informer, for its namespace.
func perNamespace(opts controller.Options, namespaces, objects cache.SharedIndexInformer, object string) (*controller.Controller, error) {
	c, err := controller.New(opts)
	if err != nil {
		return nil, err
	}
	if err := c.Watch(namespaces, controller.ForObject()); err != nil {
		return nil, err
	}
	if err := c.Watch(objects, controller.MapFunc(func(obj any) []controller.Request {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, err := meta.Accessor(obj)
		if err != nil || m.GetName() != object {
			return nil
		}
		return []controller.Request{{NamespacedName: types.NamespacedName{Name: m.GetNamespace()}}}
	})); err != nil {
		return nil, err
	}
	return c, nil
}

// activeNamespace returns the namespace name when it exists and is not
// terminating, else nil.
func activeNamespace(lister corelisters.NamespaceLister, name string) (*corev1.Namespace, error) {
	ns, err := lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil, nil
	}
	return ns, nil
}
