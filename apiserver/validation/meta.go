package validation

import (
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MetaRule says how the metadata of one kind of object is validated.
type MetaRule struct {
	// Namespaced is true when objects of the kind live in a namespace:
	// metadata.namespace is then required, otherwise it is forbidden.
	Namespaced bool
	// Name checks metadata.name (prefix false) and metadata.generateName
	// (prefix true) and returns what is wrong, or nothing.
	Name apimachineryvalidation.ValidateNameFunc
}

// The naming rules in use.
var (
	// NamespacedSubdomain is the rule of most namespaced kinds: the name is
	// a DNS-1123 subdomain (lower case alphanumerics, '-' and '.', at most
	// 253 characters).
	NamespacedSubdomain = MetaRule{Namespaced: true, Name: apimachineryvalidation.NameIsDNSSubdomain}
	// NamespacedLabel is the rule of services: the name is a DNS-1123 label
	// (lower case alphanumerics and '-', at most 63 characters), because it
	// becomes a DNS name and an environment variable prefix.
	NamespacedLabel = MetaRule{Namespaced: true, Name: apimachineryvalidation.NameIsDNSLabel}
	// ClusterSubdomain is the rule of cluster-scoped kinds such as nodes.
	ClusterSubdomain = MetaRule{Namespaced: false, Name: apimachineryvalidation.NameIsDNSSubdomain}
	// ClusterLabel is the rule of namespaces.
	ClusterLabel = MetaRule{Namespaced: false, Name: apimachineryvalidation.NameIsDNSLabel}
)

// rules is the per-type table behind Rules.
var rules = map[reflect.Type]MetaRule{
	reflect.TypeFor[*corev1.Pod]():                   NamespacedSubdomain,
	reflect.TypeFor[*corev1.PodTemplate]():           NamespacedSubdomain,
	reflect.TypeFor[*corev1.Namespace]():             ClusterLabel,
	reflect.TypeFor[*corev1.Node]():                  ClusterSubdomain,
	reflect.TypeFor[*corev1.Service]():               NamespacedLabel,
	reflect.TypeFor[*corev1.Endpoints]():             NamespacedSubdomain,
	reflect.TypeFor[*corev1.ConfigMap]():             NamespacedSubdomain,
	reflect.TypeFor[*corev1.Secret]():                NamespacedSubdomain,
	reflect.TypeFor[*corev1.ServiceAccount]():        NamespacedSubdomain,
	reflect.TypeFor[*corev1.ReplicationController](): NamespacedSubdomain,
	reflect.TypeFor[*corev1.Event]():                 NamespacedSubdomain,
	reflect.TypeFor[*corev1.LimitRange]():            NamespacedSubdomain,
	reflect.TypeFor[*corev1.ResourceQuota]():         NamespacedSubdomain,
	reflect.TypeFor[*corev1.Binding]():               NamespacedSubdomain,
	reflect.TypeFor[*discoveryv1.EndpointSlice]():    NamespacedSubdomain,
	reflect.TypeFor[*appsv1.Deployment]():            NamespacedSubdomain,
	reflect.TypeFor[*appsv1.ReplicaSet]():            NamespacedSubdomain,
	reflect.TypeFor[*appsv1.DaemonSet]():             NamespacedSubdomain,
	reflect.TypeFor[*appsv1.StatefulSet]():           NamespacedSubdomain,
	reflect.TypeFor[*appsv1.ControllerRevision]():    NamespacedSubdomain,
	reflect.TypeFor[*batchv1.Job]():                  NamespacedSubdomain,
	reflect.TypeFor[*batchv1.CronJob]():              NamespacedSubdomain,
	reflect.TypeFor[*coordinationv1.Lease]():         NamespacedSubdomain,
	reflect.TypeFor[*autoscalingv1.Scale]():          NamespacedSubdomain,
}

// Rules returns the metadata rule of obj's type, and false for a type this
// package does not know.
func Rules(obj runtime.Object) (MetaRule, bool) {
	r, ok := rules[reflect.TypeOf(obj)]
	return r, ok
}

// ObjectMeta validates the metadata of an object about to be created: the
// name (required unless generateName is set, whose format is checked too)
// and namespace according to rule, labels, annotations (syntax and their
// total size of at most 256 KiB), owner references, finalizers and managed
// fields. fldPath is normally field.NewPath("metadata").
func ObjectMeta(meta *metav1.ObjectMeta, rule MetaRule, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(meta, rule.Namespaced, rule.Name, fldPath)
	errs = append(errs, finalizerNames(meta.Finalizers, fldPath.Child("finalizers"))...)
	if meta.Name == "" && meta.GenerateName != "" {
		// The server generates the name from generateName; only a
		// generateName that cannot produce a valid name is an error, and
		// that is reported at generateName already.
		namePath := fldPath.Child("name").String()
		errs = dropErrors(errs, func(e *field.Error) bool {
			return e.Type == field.ErrorTypeRequired && e.Field == namePath
		})
	}
	return errs
}

// ObjectMetaUpdate validates the metadata of an update: name, namespace,
// uid, creationTimestamp, deletionTimestamp and deletionGracePeriodSeconds
// are immutable, generation may not decrease, no finalizer may be added once
// the object is being deleted, and labels, annotations, owner references and
// managed fields must be valid. resourceVersion is not checked.
func ObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, fldPath)
	rvPath := fldPath.Child("resourceVersion").String()
	errs = dropErrors(errs, func(e *field.Error) bool { return e.Field == rvPath })
	errs = append(errs, apimachineryvalidation.ValidateFinalizers(newMeta.Finalizers, fldPath.Child("finalizers"))...)
	errs = append(errs, finalizerNames(newMeta.Finalizers, fldPath.Child("finalizers"))...)
	return errs
}

// finalizerNames checks that every finalizer of a built-in object is either
// one of the standard names or qualified with a domain ("example.com/x").
func finalizerNames(finalizers []string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range finalizers {
		if strings.Contains(f, "/") {
			continue // the qualified-name syntax is checked by apimachinery
		}
		switch f {
		case string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents:
		default:
			errs = append(errs, field.Invalid(fldPath.Index(i), f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

func dropErrors(errs field.ErrorList, drop func(*field.Error) bool) field.ErrorList {
	out := errs[:0]
	for _, e := range errs {
		if !drop(e) {
			out = append(out, e)
		}
	}
	return out
}
