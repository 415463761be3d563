package validation

import (
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Lease validates a lease: leaseDurationSeconds > 0 and leaseTransitions
// >= 0 when set.
func Lease(l *coordinationv1.Lease) field.ErrorList {
	errs := ObjectMeta(&l.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, leaseSpec(&l.Spec, field.NewPath("spec"))...)
}

func leaseSpec(spec *coordinationv1.LeaseSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if d := spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(p.Child("leaseDurationSeconds"), *d, positiveMsg))
	}
	errs = append(errs, nonNegativePtr(spec.LeaseTransitions, p.Child("leaseTransitions"))...)
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && spec.Strategy == nil {
		errs = append(errs, field.Forbidden(p.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// LeaseUpdate validates an update of a lease: metadata rules and the new
// spec.
func LeaseUpdate(newL, oldL *coordinationv1.Lease) field.ErrorList {
	errs := ObjectMetaUpdate(&newL.ObjectMeta, &oldL.ObjectMeta, field.NewPath("metadata"))
	return append(errs, leaseSpec(&newL.Spec, field.NewPath("spec"))...)
}

// Event validates a core/v1 event: it names the object it is about
// (involvedObject), and that object's namespace is the event's namespace,
// or empty for an event about a cluster-scoped object (stored in the
// event's namespace, "default" by convention).
func Event(e *corev1.Event) field.ErrorList {
	errs := ObjectMeta(&e.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, eventContent(e)...)
}

func eventContent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	ip := field.NewPath("involvedObject")
	if e.InvolvedObject.Kind == "" && e.InvolvedObject.Name == "" {
		errs = append(errs, field.Required(ip, "must name the object the event is about"))
	}
	const mismatch = "does not match event.namespace"
	switch ns := e.InvolvedObject.Namespace; {
	case ns == "":
		if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
			errs = append(errs, field.Invalid(ip.Child("namespace"), ns, mismatch))
		}
	case ns != e.Namespace:
		errs = append(errs, field.Invalid(ip.Child("namespace"), ns, mismatch))
	}
	if e.ReportingController != "" {
		errs = append(errs, qualifiedName(e.ReportingController, field.NewPath("reportingComponent"))...)
	}
	return errs
}

// EventUpdate validates an update of an event (event recorders update the
// count and timestamps of a repeated event): metadata rules and the new
// event's content.
func EventUpdate(newE, oldE *corev1.Event) field.ErrorList {
	errs := ObjectMetaUpdate(&newE.ObjectMeta, &oldE.ObjectMeta, field.NewPath("metadata"))
	return append(errs, eventContent(newE)...)
}

// ValidateScale validates the body of a scale subresource request: its
// metadata and spec.replicas >= 0.
func ValidateScale(s *autoscalingv1.Scale) field.ErrorList {
	errs := ObjectMeta(&s.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, nonNegative(int64(s.Spec.Replicas), field.NewPath("spec", "replicas"))...)
}

// ValidateBinding validates the body of a pod binding request (what a
// scheduler POSTs to pods/binding): the target is a Node (kind "Node" or
// empty) and has a name.
func ValidateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	tp := field.NewPath("target")
	if k := b.Target.Kind; k != "" && k != "Node" {
		errs = append(errs, field.NotSupported(tp.Child("kind"), k, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(tp.Child("name"), ""))
	}
	return errs
}
