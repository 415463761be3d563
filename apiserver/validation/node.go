package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Node validates a node about to be registered: metadata (cluster-scoped,
// DNS-1123 subdomain name), taints, pod CIDRs (valid, at most one per IP
// family, podCIDR equal to podCIDRs[0]) and the quantities of its capacity
// and allocatable resources.
func Node(node *corev1.Node) field.ErrorList {
	errs := ObjectMeta(&node.ObjectMeta, ClusterSubdomain, field.NewPath("metadata"))
	return append(errs, nodeSpecAndStatus(node)...)
}

func nodeSpecAndStatus(node *corev1.Node) field.ErrorList {
	sp := field.NewPath("spec")
	errs := Taints(node.Spec.Taints, sp.Child("taints"))
	cp := sp.Child("podCIDRs")
	for i, c := range node.Spec.PodCIDRs {
		errs = append(errs, cidr(c, cp.Index(i))...)
	}
	if n := len(node.Spec.PodCIDRs); n > 2 || (n == 2 && isIPv6(node.Spec.PodCIDRs[0]) == isIPv6(node.Spec.PodCIDRs[1])) {
		errs = append(errs, field.Invalid(cp, node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	if node.Spec.PodCIDR != "" && (len(node.Spec.PodCIDRs) == 0 || node.Spec.PodCIDRs[0] != node.Spec.PodCIDR) {
		errs = append(errs, field.Invalid(sp.Child("podCIDR"), node.Spec.PodCIDR, "must match the first entry of `podCIDRs`"))
	}
	st := field.NewPath("status")
	errs = append(errs, resourceList(node.Status.Capacity, st.Child("capacity"))...)
	errs = append(errs, resourceList(node.Status.Allocatable, st.Child("allocatable"))...)
	for i, a := range node.Status.Addresses {
		ap := st.Child("addresses").Index(i)
		if a.Type == "" {
			errs = append(errs, field.Required(ap.Child("type"), ""))
		}
		if a.Address == "" {
			errs = append(errs, field.Required(ap.Child("address"), ""))
		}
	}
	if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 0 {
		errs = append(errs, portNum(p, st.Child("daemonEndpoints", "kubeletEndpoint", "Port"))...)
	}
	return errs
}

// NodeUpdate validates an update of a node (also used for its status):
// metadata rules, the new node's spec and status, and that podCIDRs and
// providerID, once set, do not change.
func NodeUpdate(newNode, oldNode *corev1.Node) field.ErrorList {
	errs := ObjectMetaUpdate(&newNode.ObjectMeta, &oldNode.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, nodeSpecAndStatus(newNode)...)
	sp := field.NewPath("spec")
	if len(oldNode.Spec.PodCIDRs) > 0 && !slices.Equal(newNode.Spec.PodCIDRs, oldNode.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(sp.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if oldNode.Spec.ProviderID != "" && newNode.Spec.ProviderID != oldNode.Spec.ProviderID {
		errs = append(errs, field.Forbidden(sp.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

// Namespace validates a namespace about to be created: metadata
// (cluster-scoped, DNS-1123 label name) and spec.finalizers.
func Namespace(ns *corev1.Namespace) field.ErrorList {
	errs := ObjectMeta(&ns.ObjectMeta, ClusterLabel, field.NewPath("metadata"))
	return append(errs, namespaceFinalizers(ns.Spec.Finalizers, field.NewPath("spec", "finalizers"))...)
}

func namespaceFinalizers(finalizers []corev1.FinalizerName, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range finalizers {
		fp := p.Index(i)
		if msgs := qualifiedName(string(f), fp); len(msgs) > 0 {
			errs = append(errs, msgs...)
		} else if !strings.Contains(string(f), "/") && f != corev1.FinalizerKubernetes {
			errs = append(errs, field.Invalid(fp, f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

// NamespaceUpdate validates an update of a namespace: metadata rules. The
// API server keeps spec and status from the stored object on this path.
func NamespaceUpdate(newNS, oldNS *corev1.Namespace) field.ErrorList {
	return ObjectMetaUpdate(&newNS.ObjectMeta, &oldNS.ObjectMeta, field.NewPath("metadata"))
}

// NamespaceStatusUpdate validates an update of a namespace's status: the
// phase is Active while the namespace is not being deleted, Terminating
// once it is.
func NamespaceStatusUpdate(newNS, oldNS *corev1.Namespace) field.ErrorList {
	errs := ObjectMetaUpdate(&newNS.ObjectMeta, &oldNS.ObjectMeta, field.NewPath("metadata"))
	pp := field.NewPath("status", "phase")
	if newNS.DeletionTimestamp.IsZero() {
		if newNS.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(pp, newNS.Status.Phase, fmt.Sprintf("may only be '%s' if `deletionTimestamp` is empty", corev1.NamespaceActive)))
		}
	} else if newNS.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(pp, newNS.Status.Phase, fmt.Sprintf("may only be '%s' if `deletionTimestamp` is not empty", corev1.NamespaceTerminating)))
	}
	return errs
}

// NamespaceFinalizeUpdate validates an update through the namespace's
// finalize subresource: metadata rules and valid spec.finalizers.
func NamespaceFinalizeUpdate(newNS, oldNS *corev1.Namespace) field.ErrorList {
	errs := ObjectMetaUpdate(&newNS.ObjectMeta, &oldNS.ObjectMeta, field.NewPath("metadata"))
	return append(errs, namespaceFinalizers(newNS.Spec.Finalizers, field.NewPath("spec", "finalizers"))...)
}
