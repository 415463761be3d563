package defaults

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Apply sets the defaults of obj in place. obj is one of the pointer types
// of k8s.io/api, e.g. *corev1.Pod; objects of other types (see Known), nil
// pointers and lists are left untouched (callers default list items one by
// one).
func Apply(obj runtime.Object) {
	apply(obj)
}

// Known reports whether Apply knows obj's type, including the types that
// have no defaults in Kubernetes (ConfigMap, ServiceAccount, Event, Lease,
// Binding).
func Known(obj runtime.Object) bool {
	t := reflect.TypeOf(obj)
	if t == nil || t.Kind() != reflect.Pointer {
		return false
	}
	// Default a zero value of the same type: cheap, and leaves obj alone.
	zero, ok := reflect.New(t.Elem()).Interface().(runtime.Object)
	return ok && apply(zero)
}

// apply defaults obj and reports whether it knows the type.
func apply(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *corev1.Pod:
		if o != nil {
			Pod(o)
		}
	case *corev1.PodTemplate:
		if o != nil {
			PodTemplateSpec(&o.Template)
		}
	case *corev1.Namespace:
		if o != nil {
			Namespace(o)
		}
	case *corev1.Node:
		if o != nil {
			Node(o)
		}
	case *corev1.Service:
		if o != nil {
			Service(o)
		}
	case *corev1.Endpoints:
		if o != nil {
			Endpoints(o)
		}
	case *corev1.ConfigMap, *corev1.ServiceAccount, *corev1.Event, *coordinationv1.Lease, *corev1.Binding:
		// Kubernetes defines no defaults for these types.
	case *corev1.Secret:
		if o != nil {
			Secret(o)
		}
	case *corev1.PersistentVolumeClaim:
		if o != nil {
			PersistentVolumeClaim(o)
		}
	case *corev1.ReplicationController:
		if o != nil {
			ReplicationController(o)
		}
	case *discoveryv1.EndpointSlice:
		if o != nil {
			EndpointSlice(o)
		}
	case *appsv1.Deployment:
		if o != nil {
			Deployment(o)
		}
	case *appsv1.ReplicaSet:
		if o != nil {
			ReplicaSet(o)
		}
	case *appsv1.DaemonSet:
		if o != nil {
			DaemonSet(o)
		}
	case *appsv1.StatefulSet:
		if o != nil {
			StatefulSet(o)
		}
	case *batchv1.Job:
		if o != nil {
			Job(o)
		}
	case *batchv1.CronJob:
		if o != nil {
			CronJob(o)
		}
	default:
		return false
	}
	return true
}

func ptrTo[T any](v T) *T { return &v }

// copyStringMap returns a copy of m, so that defaulting one field from
// another never makes two fields share a map.
func copyStringMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
