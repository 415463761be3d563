package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// resources validates the resource requirements of a container (or of the
// whole pod): resource names, non-negative quantities, requests no larger
// than limits, and for resources that cannot be overcommitted (extended
// resources such as example.com/gpu, and huge pages) a limit equal to the
// request.
func resources(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := p.Child("limits"), p.Child("requests")
	for _, name := range sortedKeys(r.Limits) {
		q := r.Limits[name]
		fp := limPath.Key(string(name))
		errs = append(errs, containerResourceName(name, fp)...)
		errs = append(errs, quantity(name, q, fp)...)
	}
	for _, name := range sortedKeys(r.Requests) {
		q := r.Requests[name]
		fp := reqPath.Key(string(name))
		errs = append(errs, containerResourceName(name, fp)...)
		errs = append(errs, quantity(name, q, fp)...)
		limit, hasLimit := r.Limits[name]
		switch {
		case hasLimit && q.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(fp, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case overcommitAllowed(name):
		case !hasLimit:
			errs = append(errs, field.Required(limPath.Key(string(name)), "Limit must be set for non overcommitable resources"))
		case q.Cmp(limit) != 0:
			errs = append(errs, field.Invalid(fp, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		}
	}
	for i, c := range r.Claims {
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("claims").Index(i).Child("name"), ""))
		}
	}
	return errs
}

// quantity checks one amount of a resource: not negative, and a whole
// number for resources that come in units (extended resources).
func quantity(name corev1.ResourceName, q resource.Quantity, p *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(p, q.String(), nonNegativeMsg)}
	}
	if isExtendedResource(name) && q.MilliValue()%1000 != 0 {
		return field.ErrorList{field.Invalid(p, q.String(), "must be an integer")}
	}
	return nil
}

// containerResourceName accepts the standard container resources (cpu,
// memory, ephemeral-storage, hugepages-<size>) and extended resources
// (a domain-qualified name outside kubernetes.io).
func containerResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	s := string(name)
	if msgs := validation.IsQualifiedName(s); len(msgs) > 0 {
		return messages(p, s, msgs)
	}
	if isStandardContainerResource(name) || isExtendedResource(name) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, s, "must be a standard resource for containers")}
}

func isStandardContainerResource(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return isHugePages(name)
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isNativeResource: resources without a domain, or in kubernetes.io.
func isNativeResource(name corev1.ResourceName) bool {
	s := string(name)
	return !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/")
}

func isExtendedResource(name corev1.ResourceName) bool {
	s := string(name)
	if isNativeResource(name) || strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+s)) == 0
}

func overcommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePages(name)
}

// resourceList validates a list of quantities that is not a container's,
// such as a node's capacity: qualified names and non-negative amounts.
func resourceList(l corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(l) {
		fp := p.Key(string(name))
		errs = append(errs, qualifiedName(string(name), fp)...)
		errs = append(errs, quantity(name, l[name], fp)...)
	}
	return errs
}
