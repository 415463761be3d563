package validation

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podUpdateForbiddenMsg lists what a pod update may change (the rule of the
// Kubernetes pod concept page: "Pod update and replacement").
const podUpdateForbiddenMsg = "pod updates may not change fields other than " +
	"`spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, " +
	"`spec.tolerations` (only additions to existing tolerations), " +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative) " +
	"and `spec.schedulingGates` (only removals)"

// maxDiffPaths bounds the list of changed fields in the Forbidden message.
const maxDiffPaths = 10

// PodUpdate validates an update of a pod (not of its status): the new pod
// must be valid, its metadata must respect ObjectMetaUpdate, and its spec is
// immutable except for
//   - containers[*].image and initContainers[*].image (containers may not
//     be added or removed);
//   - activeDeadlineSeconds, which may be set when unset, or lowered;
//   - tolerations, to which entries may only be added (an existing
//     toleration may change its tolerationSeconds only);
//   - schedulingGates, from which entries may only be removed;
//   - terminationGracePeriodSeconds from a negative value to 1.
//
// Any other change is reported as one Forbidden error at "spec" whose
// detail lists what may change and which fields changed.
func PodUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	errs := ObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	errs = append(errs, PodSpec(&newPod.Spec, specPath)...)

	newSpec, oldSpec := &newPod.Spec, &oldPod.Spec
	if len(newSpec.Containers) != len(oldSpec.Containers) {
		return append(errs, field.Forbidden(specPath.Child("containers"), "pod updates may not add or remove containers"))
	}
	if len(newSpec.InitContainers) != len(oldSpec.InitContainers) {
		return append(errs, field.Forbidden(specPath.Child("initContainers"), "pod updates may not add or remove containers"))
	}
	errs = append(errs, activeDeadlineUpdate(newSpec.ActiveDeadlineSeconds, oldSpec.ActiveDeadlineSeconds, specPath.Child("activeDeadlineSeconds"))...)
	errs = append(errs, tolerationsOnlyAdded(newSpec.Tolerations, oldSpec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, schedulingGatesOnlyRemoved(newSpec.SchedulingGates, oldSpec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if equality.Semantic.DeepEqual(newSpec, oldSpec) {
		return errs
	}
	// Put the old values into the fields that may change; whatever differs
	// after that is a forbidden change.
	munged := newSpec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldSpec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldSpec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = oldSpec.ActiveDeadlineSeconds
	munged.Tolerations = oldSpec.Tolerations
	munged.SchedulingGates = oldSpec.SchedulingGates
	if g := oldSpec.TerminationGracePeriodSeconds; g != nil && *g < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = g
	}
	if !equality.Semantic.DeepEqual(munged, oldSpec) {
		changed := changedPaths(reflect.ValueOf(*oldSpec), reflect.ValueOf(*munged), "spec", 4)
		detail := podUpdateForbiddenMsg
		if len(changed) > 0 {
			detail += "; changed: " + strings.Join(changed, ", ")
		}
		errs = append(errs, field.Forbidden(specPath, detail))
	}
	return errs
}

// activeDeadlineUpdate allows two changes: from unset to a positive value,
// and from a positive value to a smaller one.
func activeDeadlineUpdate(newVal, oldVal *int64, p *field.Path) field.ErrorList {
	switch {
	case newVal == nil && oldVal != nil:
		return field.ErrorList{field.Invalid(p, newVal, "must not update from a positive integer to nil value")}
	case newVal != nil && oldVal != nil && *newVal > *oldVal:
		return field.ErrorList{field.Invalid(p, *newVal, "must be less than or equal to previous value")}
	}
	return nil
}

// tolerationsOnlyAdded checks that every old toleration is still there,
// identical except possibly for its tolerationSeconds.
func tolerationsOnlyAdded(newTols, oldTols []corev1.Toleration, p *field.Path) field.ErrorList {
	for _, old := range oldTols {
		found := slices.ContainsFunc(newTols, func(t corev1.Toleration) bool {
			t.TolerationSeconds = old.TolerationSeconds
			return equality.Semantic.DeepEqual(t, old)
		})
		if !found {
			return field.ErrorList{field.Forbidden(p, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func schedulingGatesOnlyRemoved(newGates, oldGates []corev1.PodSchedulingGate, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, g := range newGates {
		if !slices.Contains(oldGates, g) {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

// changedPaths lists the JSON paths below prefix where a and b differ,
// descending into structs, pointers and equally long slices up to depth
// levels; at most maxDiffPaths paths are returned.
func changedPaths(a, b reflect.Value, prefix string, depth int) []string {
	var out []string
	var walk func(a, b reflect.Value, path string, depth int)
	walk = func(a, b reflect.Value, path string, depth int) {
		if len(out) >= maxDiffPaths || equality.Semantic.DeepEqual(a.Interface(), b.Interface()) {
			return
		}
		if depth == 0 {
			out = append(out, path)
			return
		}
		switch a.Kind() {
		case reflect.Pointer:
			if a.IsNil() || b.IsNil() {
				out = append(out, path)
				return
			}
			walk(a.Elem(), b.Elem(), path, depth)
		case reflect.Struct:
			t := a.Type()
			for i := range t.NumField() {
				f := t.Field(i)
				if !f.IsExported() {
					out = append(out, path)
					return
				}
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				p := path
				if name != "" {
					p = path + "." + name
				}
				walk(a.Field(i), b.Field(i), p, depth-1)
			}
		case reflect.Slice:
			if a.Len() != b.Len() {
				out = append(out, path)
				return
			}
			for i := range a.Len() {
				walk(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i), depth-1)
			}
		default:
			out = append(out, path)
		}
	}
	walk(a, b, prefix, depth)
	return out
}

var supportedPodPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

// PodStatusUpdate validates an update through the pod's status
// subresource: metadata rules, spec.nodeName unchanged (binding sets it),
// nominatedNodeName, phase, condition types, podIP(s) and hostIP(s) valid
// and consistent, and no container that will not restart going back from
// terminated to running.
func PodStatusUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	errs := ObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("status")
	st := &newPod.Status
	if newPod.Spec.NodeName != oldPod.Spec.NodeName {
		errs = append(errs, field.Forbidden(sp.Child("nodeName"), "may not be changed directly"))
	}
	if st.NominatedNodeName != "" && st.NominatedNodeName != oldPod.Status.NominatedNodeName {
		errs = append(errs, dnsSubdomain(st.NominatedNodeName, sp.Child("nominatedNodeName"))...)
	}
	if st.Phase != "" && !slices.Contains(supportedPodPhases, st.Phase) {
		errs = append(errs, field.NotSupported(sp.Child("phase"), st.Phase, supportedPodPhases))
	}
	for i, c := range st.Conditions {
		errs = append(errs, qualifiedName(string(c.Type), sp.Child("conditions").Index(i).Child("type"))...)
	}
	errs = append(errs, podIPs(st, sp)...)
	if oldPod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		errs = append(errs, noRestartAfterTermination(st.ContainerStatuses, oldPod.Status.ContainerStatuses, sp.Child("containerStatuses"))...)
	}
	if oldPod.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		// Regular init containers do not restart once they succeeded.
		var regular []corev1.ContainerStatus
		for _, cs := range oldPod.Status.InitContainerStatuses {
			if restartableInit(oldPod, cs.Name) {
				continue
			}
			regular = append(regular, cs)
		}
		for i, cs := range st.InitContainerStatuses {
			if restartableInit(oldPod, cs.Name) {
				continue
			}
			errs = append(errs, noRestartAfterSuccess(cs, regular, sp.Child("initContainerStatuses").Index(i))...)
		}
	}
	return errs
}

func restartableInit(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

func podIPs(st *corev1.PodStatus, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(single string, plural []string, singleName, pluralName string) {
		pp := sp.Child(pluralName)
		if single != "" && (len(plural) == 0 || plural[0] != single) {
			errs = append(errs, field.Invalid(pp, plural, fmt.Sprintf("first entry must match `%s`", singleName)))
		}
		if len(plural) > 2 {
			errs = append(errs, field.TooMany(pp, len(plural), 2))
		}
		for i, v := range plural {
			errs = append(errs, ip(v, pp.Index(i).Child("ip"))...)
		}
		if len(plural) == 2 && isIPv6(plural[0]) == isIPv6(plural[1]) {
			errs = append(errs, field.Invalid(pp, plural, "may specify no more than one IP for each IP family"))
		}
	}
	var pod, host []string
	for _, x := range st.PodIPs {
		pod = append(pod, x.IP)
	}
	for _, x := range st.HostIPs {
		host = append(host, x.IP)
	}
	check(st.PodIP, pod, "podIP", "podIPs")
	check(st.HostIP, host, "hostIP", "hostIPs")
	return errs
}

func isIPv6(s string) bool { return strings.Contains(s, ":") }

func noRestartAfterTermination(newStatuses, oldStatuses []corev1.ContainerStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ns := range newStatuses {
		for _, os := range oldStatuses {
			if ns.Name == os.Name && os.State.Terminated != nil && ns.State.Terminated == nil {
				errs = append(errs, field.Forbidden(p.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func noRestartAfterSuccess(ns corev1.ContainerStatus, oldStatuses []corev1.ContainerStatus, p *field.Path) field.ErrorList {
	for _, os := range oldStatuses {
		if ns.Name == os.Name && os.State.Terminated != nil && os.State.Terminated.ExitCode == 0 && ns.State.Terminated == nil {
			return field.ErrorList{field.Forbidden(p.Child("state"), "may not be transitioned to non-terminated state")}
		}
	}
	return nil
}
