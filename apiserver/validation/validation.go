package validation

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate checks obj, an object about to be created, and returns what is
// wrong with it, or nothing. obj is one of the pointer types of k8s.io/api
// (e.g. *corev1.Pod); types this package does not know, and nil, pass.
// Known reports whether a type has rules.
func Validate(obj runtime.Object) field.ErrorList {
	if isNil(obj) {
		return nil
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return Pod(o)
	case *corev1.PodTemplate:
		return PodTemplate(o)
	case *corev1.Namespace:
		return Namespace(o)
	case *corev1.Node:
		return Node(o)
	case *corev1.Service:
		return Service(o)
	case *corev1.Endpoints:
		return Endpoints(o)
	case *corev1.ConfigMap:
		return ConfigMap(o)
	case *corev1.Secret:
		return Secret(o)
	case *corev1.ServiceAccount:
		return ServiceAccount(o)
	case *corev1.ReplicationController:
		return ReplicationController(o)
	case *corev1.Event:
		return Event(o)
	case *corev1.LimitRange:
		return LimitRange(o)
	case *corev1.ResourceQuota:
		return ResourceQuota(o)
	case *corev1.Binding:
		return ValidateBinding(o)
	case *discoveryv1.EndpointSlice:
		return EndpointSlice(o)
	case *appsv1.Deployment:
		return Deployment(o)
	case *appsv1.ReplicaSet:
		return ReplicaSet(o)
	case *appsv1.DaemonSet:
		return DaemonSet(o)
	case *appsv1.StatefulSet:
		return StatefulSet(o)
	case *appsv1.ControllerRevision:
		return ControllerRevision(o)
	case *batchv1.Job:
		return Job(o)
	case *batchv1.CronJob:
		return CronJob(o)
	case *coordinationv1.Lease:
		return Lease(o)
	case *autoscalingv1.Scale:
		return ValidateScale(o)
	}
	return nil
}

// Known reports whether Validate, ValidateUpdate and ValidateStatusUpdate
// have rules for obj's type.
func Known(obj runtime.Object) bool {
	_, ok := rules[reflect.TypeOf(obj)]
	return ok
}

// ValidateUpdate checks obj, the new version of old, and returns what is
// wrong with the update, or nothing. Both must have the same type; see
// Validate for which types are known.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if errs, done := sameType(obj, old); done {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return PodUpdate(o, old.(*corev1.Pod))
	case *corev1.PodTemplate:
		errs := ObjectMetaUpdate(&o.ObjectMeta, &old.(*corev1.PodTemplate).ObjectMeta, field.NewPath("metadata"))
		return append(errs, PodTemplateSpec(&o.Template, field.NewPath("template"))...)
	case *corev1.Namespace:
		return NamespaceUpdate(o, old.(*corev1.Namespace))
	case *corev1.Node:
		return NodeUpdate(o, old.(*corev1.Node))
	case *corev1.Service:
		return ServiceUpdate(o, old.(*corev1.Service))
	case *corev1.Endpoints:
		return EndpointsUpdate(o, old.(*corev1.Endpoints))
	case *corev1.ConfigMap:
		return ConfigMapUpdate(o, old.(*corev1.ConfigMap))
	case *corev1.Secret:
		return SecretUpdate(o, old.(*corev1.Secret))
	case *corev1.ServiceAccount:
		return ServiceAccountUpdate(o, old.(*corev1.ServiceAccount))
	case *corev1.ReplicationController:
		return ReplicationControllerUpdate(o, old.(*corev1.ReplicationController))
	case *corev1.Event:
		return EventUpdate(o, old.(*corev1.Event))
	case *corev1.LimitRange:
		return LimitRangeUpdate(o, old.(*corev1.LimitRange))
	case *corev1.ResourceQuota:
		return ResourceQuotaUpdate(o, old.(*corev1.ResourceQuota))
	case *corev1.Binding:
		return ValidateBinding(o)
	case *discoveryv1.EndpointSlice:
		return EndpointSliceUpdate(o, old.(*discoveryv1.EndpointSlice))
	case *appsv1.Deployment:
		return DeploymentUpdate(o, old.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		return ReplicaSetUpdate(o, old.(*appsv1.ReplicaSet))
	case *appsv1.DaemonSet:
		return DaemonSetUpdate(o, old.(*appsv1.DaemonSet))
	case *appsv1.StatefulSet:
		return StatefulSetUpdate(o, old.(*appsv1.StatefulSet))
	case *appsv1.ControllerRevision:
		return ControllerRevisionUpdate(o, old.(*appsv1.ControllerRevision))
	case *batchv1.Job:
		return JobUpdate(o, old.(*batchv1.Job))
	case *batchv1.CronJob:
		return CronJobUpdate(o, old.(*batchv1.CronJob))
	case *coordinationv1.Lease:
		return LeaseUpdate(o, old.(*coordinationv1.Lease))
	case *autoscalingv1.Scale:
		return ValidateScale(o)
	}
	return nil
}

// ValidateStatusUpdate checks an update through the status subresource of
// obj's kind. Kinds without status rules of their own are checked as by
// ValidateUpdate.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if errs, done := sameType(obj, old); done {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return PodStatusUpdate(o, old.(*corev1.Pod))
	case *corev1.Namespace:
		return NamespaceStatusUpdate(o, old.(*corev1.Namespace))
	case *corev1.Service:
		return ServiceStatusUpdate(o, old.(*corev1.Service))
	case *corev1.ReplicationController:
		return ReplicationControllerStatusUpdate(o, old.(*corev1.ReplicationController))
	case *corev1.ResourceQuota:
		return ResourceQuotaStatusUpdate(o, old.(*corev1.ResourceQuota))
	case *appsv1.Deployment:
		return DeploymentStatusUpdate(o, old.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		return ReplicaSetStatusUpdate(o, old.(*appsv1.ReplicaSet))
	case *appsv1.DaemonSet:
		return DaemonSetStatusUpdate(o, old.(*appsv1.DaemonSet))
	case *appsv1.StatefulSet:
		return StatefulSetStatusUpdate(o, old.(*appsv1.StatefulSet))
	case *batchv1.Job:
		return JobStatusUpdate(o, old.(*batchv1.Job))
	case *batchv1.CronJob:
		return CronJobStatusUpdate(o, old.(*batchv1.CronJob))
	}
	return ValidateUpdate(obj, old)
}

// sameType handles the cases an update cannot be checked: a nil object
// passes, two different types are an internal error.
func sameType(obj, old runtime.Object) (field.ErrorList, bool) {
	if isNil(obj) || isNil(old) {
		return nil, true
	}
	if reflect.TypeOf(obj) != reflect.TypeOf(old) {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot validate an update of %T from %T", obj, old))}, true
	}
	return nil, false
}

func isNil(obj runtime.Object) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
