package controller

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// ControllerUIDIndex indexes objects by the UID of their controller owner;
// objects without one are indexed under OrphanKey(namespace).
const ControllerUIDIndex = "gantry.controllerUID"

// OrphanKey is the ControllerUIDIndex value of objects in namespace that
// have no controller.
func OrphanKey(namespace string) string { return "orphan/" + namespace }

func controllerUIDIndexFunc(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	if ref := metav1.GetControllerOf(m); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{OrphanKey(m.GetNamespace())}, nil
}

// AddControllerUIDIndex adds ControllerUIDIndex to inf (once: informers
// shared by several controllers keep the first). Call it before inf starts.
func AddControllerUIDIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[ControllerUIDIndex]; ok {
		return nil
	}
	if err := inf.AddIndexers(cache.Indexers{ControllerUIDIndex: controllerUIDIndexFunc}); err != nil {
		if _, ok := inf.GetIndexer().GetIndexers()[ControllerUIDIndex]; ok {
			return nil
		}
		return fmt.Errorf("add index %s: %w", ControllerUIDIndex, err)
	}
	return nil
}

// ByControllerUID returns the objects of inf controlled by uid plus the
// orphans of namespace: the candidates a controller may own or adopt.
func ByControllerUID(inf cache.SharedIndexInformer, uid, namespace string) ([]any, error) {
	owned, err := inf.GetIndexer().ByIndex(ControllerUIDIndex, uid)
	if err != nil {
		return nil, err
	}
	orphans, err := inf.GetIndexer().ByIndex(ControllerUIDIndex, OrphanKey(namespace))
	if err != nil {
		return nil, err
	}
	return append(owned, orphans...), nil
}
