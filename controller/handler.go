package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// EventHandler maps an object seen by an informer to the requests it
// should trigger. Map is called for the object of an add or delete event
// and for both the old and new objects of an update; obj is never a
// cache.DeletedFinalStateUnknown (the controller unwraps it).
type EventHandler interface {
	Map(obj any) []Request
}

// MapFunc adapts a function to an EventHandler.
type MapFunc func(obj any) []Request

// Map calls f(obj).
func (f MapFunc) Map(obj any) []Request { return f(obj) }

var _ EventHandler = MapFunc(nil)

// ForObject enqueues the object itself.
func ForObject() EventHandler {
	return MapFunc(func(obj any) []Request {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil
		}
		return []Request{{types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}}}
	})
}

// ForControllerOwner enqueues the controller owner (ownerReference with
// controller=true) of the object when it is of the given group and kind;
// owners live in the object's namespace.
func ForControllerOwner(gk schema.GroupKind) EventHandler {
	return MapFunc(func(obj any) []Request {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil
		}
		ref := metav1.GetControllerOf(m)
		if ref == nil {
			return nil
		}
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil || gv.Group != gk.Group || ref.Kind != gk.Kind {
			return nil
		}
		return []Request{{types.NamespacedName{Namespace: m.GetNamespace(), Name: ref.Name}}}
	})
}

// unwrap returns the object inside a tombstone.
func unwrap(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// ObservingHandler enqueues, for each event, the requests owner maps the
// object to, and records creations and deletions in exp, so that a
// controller waiting for its own writes (Expectations) sees them arrive.
func ObservingHandler(c *Controller, owner EventHandler, exp *Expectations) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			for _, req := range owner.Map(obj) {
				exp.Observed(req.String(), 1, 0)
				c.Enqueue(req)
			}
		},
		UpdateFunc: func(_, obj any) {
			for _, req := range owner.Map(obj) {
				c.Enqueue(req)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			for _, req := range owner.Map(obj) {
				exp.Observed(req.String(), 0, 1)
				c.Enqueue(req)
			}
		},
	}
}
