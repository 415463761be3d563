package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Priority bounds of PriorityClasses, as Kubernetes'.
const (
	// HighestUserDefinablePriority is the highest value a user's class may
	// have; higher ones are for the system classes.
	HighestUserDefinablePriority = int32(1000000000)
	// SystemCriticalPriority is the value of system-cluster-critical.
	SystemCriticalPriority = 2 * HighestUserDefinablePriority
	// SystemPriorityClassPrefix starts the names reserved for the system
	// classes.
	SystemPriorityClassPrefix = "system-"
)

// PriorityClass validates a class: a DNS subdomain name, outside the
// system- prefix unless it is one of the system classes; a value no higher
// than HighestUserDefinablePriority for user classes; a known preemption
// policy.
func PriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	errs := ObjectMeta(&pc.ObjectMeta, ClusterSubdomain, field.NewPath("metadata"))
	if strings.HasPrefix(pc.Name, SystemPriorityClassPrefix) {
		if want, ok := systemPriorities[pc.Name]; !ok {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"), fmt.Sprintf("priority class names with %q prefix are reserved for system use only", SystemPriorityClassPrefix)))
		} else if pc.Value != want {
			errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("the value of system priority class %s must be %d", pc.Name, want)))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %d", HighestUserDefinablePriority)))
	}
	if p := pc.PreemptionPolicy; p != nil && *p != corev1.PreemptLowerPriority && *p != corev1.PreemptNever {
		errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *p, []string{string(corev1.PreemptLowerPriority), string(corev1.PreemptNever)}))
	}
	return errs
}

// PriorityClassUpdate validates an update: value and preemption policy
// are immutable.
func PriorityClassUpdate(newPC, oldPC *schedulingv1.PriorityClass) field.ErrorList {
	errs := ObjectMetaUpdate(&newPC.ObjectMeta, &oldPC.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, immutable(newPC.Value, oldPC.Value, field.NewPath("value"))...)
	errs = append(errs, immutable(newPC.PreemptionPolicy, oldPC.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return errs
}

// SystemPriorityClass returns the value of a system class: every cluster
// has system-cluster-critical (critical add-ons, which may move) and
// system-node-critical (what a node cannot run without).
func SystemPriorityClass(name string) (value int32, ok bool) {
	value, ok = systemPriorities[name]
	return value, ok
}

// SystemPriorityClassNames lists the system classes.
func SystemPriorityClassNames() []string {
	return []string{"system-cluster-critical", "system-node-critical"}
}

var systemPriorities = map[string]int32{
	"system-cluster-critical": SystemCriticalPriority,
	"system-node-critical":    SystemCriticalPriority + 1000,
}
