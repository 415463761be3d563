package resourcequota

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The resources whose objects Usage knows more about than their count.
var (
	podsResource     = corev1.Resource("pods")
	servicesResource = corev1.Resource("services")
)

// namedCounts are the core resources with a quota name of their own
// ("configmaps") besides their count/<resource> name.
var namedCounts = map[schema.GroupResource]corev1.ResourceName{
	corev1.Resource("configmaps"):             corev1.ResourceConfigMaps,
	corev1.Resource("secrets"):                corev1.ResourceSecrets,
	corev1.Resource("replicationcontrollers"): corev1.ResourceReplicationControllers,
	corev1.Resource("resourcequotas"):         corev1.ResourceQuotas,
	corev1.Resource("persistentvolumeclaims"): corev1.ResourcePersistentVolumeClaims,
	servicesResource:                          corev1.ResourceServices,
}

// CountName is the quota resource that counts the objects of gr:
// count/<resource> for the core group, count/<resource>.<group> otherwise.
func CountName(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

// ResourceOf is the resource whose objects a quota resource name measures,
// and false for names no object of the API uses (extended resources of
// nodes, storage classes).
func ResourceOf(name corev1.ResourceName) (schema.GroupResource, bool) {
	if rest, ok := strings.CutPrefix(string(name), "count/"); ok {
		res, group, _ := strings.Cut(rest, ".")
		return schema.GroupResource{Group: group, Resource: res}, res != ""
	}
	for gr, n := range namedCounts {
		if n == name {
			return gr, true
		}
	}
	switch name {
	case corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers:
		return servicesResource, true
	case corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return podsResource, true
	case corev1.ResourceRequestsStorage:
		return corev1.Resource("persistentvolumeclaims"), true
	}
	if strings.HasPrefix(string(name), "requests.") || strings.HasPrefix(string(name), "limits.") {
		return podsResource, true
	}
	return schema.GroupResource{}, false
}

// Usage returns what obj, an object of resource gr, uses of quota
// resources: one of its count/<resource> always, and for pods, services
// and the core kinds with quota names of their own what those measure. A
// pod in a terminal phase (Succeeded, Failed) uses only its count. obj may
// be nil for resources counted only.
func Usage(gr schema.GroupResource, obj runtime.Object) corev1.ResourceList {
	one := *resource.NewQuantity(1, resource.DecimalSI)
	u := corev1.ResourceList{CountName(gr): one}
	if name, ok := namedCounts[gr]; ok {
		u[name] = one
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if gr == podsResource {
			podUsage(o, u)
		}
	case *corev1.Service:
		if gr == servicesResource {
			serviceUsage(o, u)
		}
	}
	return u
}

func serviceUsage(svc *corev1.Service, u corev1.ResourceList) {
	ports := int64(0)
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		ports = int64(len(svc.Spec.Ports))
	case corev1.ServiceTypeLoadBalancer:
		u[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(1, resource.DecimalSI)
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a == nil || *a {
			ports = int64(len(svc.Spec.Ports))
		}
	}
	u[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
}

// Terminal reports whether a pod has finished: its resources are free.
func Terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func podUsage(pod *corev1.Pod, u corev1.ResourceList) {
	if Terminal(pod) {
		return
	}
	u[corev1.ResourcePods] = *resource.NewQuantity(1, resource.DecimalSI)
	requests, limits := PodResources(pod)
	for name, q := range requests {
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			u[name] = q.DeepCopy()
		}
		u["requests."+name] = q.DeepCopy()
	}
	for name, q := range limits {
		u["limits."+name] = q.DeepCopy()
	}
}

// PodResources returns the requests and limits of a pod, as the scheduler
// counts them: per resource the larger of the sum over its containers and
// the largest init container, plus the pod overhead.
func PodResources(pod *corev1.Pod) (requests, limits corev1.ResourceList) {
	requests, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addTo(requests, c.Resources.Requests)
		addTo(limits, c.Resources.Limits)
	}
	for _, c := range pod.Spec.InitContainers {
		maxTo(requests, c.Resources.Requests)
		maxTo(limits, c.Resources.Limits)
	}
	if len(pod.Spec.Overhead) > 0 {
		addTo(requests, pod.Spec.Overhead)
		for name, q := range pod.Spec.Overhead {
			if l, ok := limits[name]; ok {
				l.Add(q)
				limits[name] = l
			}
		}
	}
	return requests, limits
}

func addTo(dst, src corev1.ResourceList) {
	for name, q := range src {
		v := dst[name]
		v.Add(q)
		dst[name] = v
	}
}

func maxTo(dst, src corev1.ResourceList) {
	for name, q := range src {
		if v, ok := dst[name]; !ok || q.Cmp(v) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

// BestEffort reports whether no container of a pod requests or limits any
// resource.
func BestEffort(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
				return false
			}
		}
	}
	return true
}

// Scopes returns what a quota selects pods by: each of spec.scopes (as
// an Exists requirement) and each expression of spec.scopeSelector.
func Scopes(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// Matches reports whether quota q applies to obj, an object of resource
// gr: a quota without scopes applies to every object; scopes select pods
// only, a pod matching all of them. Terminating selects pods with
// activeDeadlineSeconds, BestEffort pods without requests or limits
// (NotTerminating and NotBestEffort the others), PriorityClass by
// spec.priorityClassName (In, NotIn, Exists, DoesNotExist) and
// CrossNamespacePodAffinity pods whose (anti-)affinity terms name other
// namespaces or a namespace selector.
func Matches(q *corev1.ResourceQuota, gr schema.GroupResource, obj runtime.Object) bool {
	scopes := Scopes(q)
	if len(scopes) == 0 {
		return true
	}
	pod, ok := obj.(*corev1.Pod)
	if gr != podsResource || !ok {
		return false
	}
	for _, req := range scopes {
		if !matchesScope(pod, req) {
			return false
		}
	}
	return true
}

func matchesScope(pod *corev1.Pod, req corev1.ScopedResourceSelectorRequirement) bool {
	if req.ScopeName == corev1.ResourceQuotaScopePriorityClass {
		name := pod.Spec.PriorityClassName
		switch req.Operator {
		case corev1.ScopeSelectorOpIn:
			return slices.Contains(req.Values, name)
		case corev1.ScopeSelectorOpNotIn:
			return !slices.Contains(req.Values, name)
		case corev1.ScopeSelectorOpExists:
			return name != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return name == ""
		}
		return false
	}
	terminating := pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
	var has bool
	switch req.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		has = terminating
	case corev1.ResourceQuotaScopeNotTerminating:
		has = !terminating
	case corev1.ResourceQuotaScopeBestEffort:
		has = BestEffort(pod)
	case corev1.ResourceQuotaScopeNotBestEffort:
		has = !BestEffort(pod)
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		has = crossNamespaceAffinity(pod)
	default:
		return false
	}
	switch req.Operator {
	case corev1.ScopeSelectorOpExists:
		return has
	case corev1.ScopeSelectorOpDoesNotExist:
		return !has
	}
	return false
}

// crossNamespaceAffinity reports whether a pod's affinity or
// anti-affinity terms reach beyond its namespace.
func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if len(t.Namespaces) > 0 || t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}

// Mask returns the entries of l named in names.
func Mask(l corev1.ResourceList, names corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name := range names {
		if q, ok := l[name]; ok {
			out[name] = q.DeepCopy()
		}
	}
	return out
}

// Add returns a + b.
func Add(a, b corev1.ResourceList) corev1.ResourceList {
	out := a.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	addTo(out, b)
	return out
}

// Subtract returns a - b, entries of b missing in a counting from zero.
func Subtract(a, b corev1.ResourceList) corev1.ResourceList {
	out := a.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for name, q := range b {
		v := out[name]
		v.Sub(q)
		out[name] = v
	}
	return out
}

// Equal reports whether a and b hold the same amounts of the same
// resources.
func Equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		v, ok := b[name]
		if !ok || q.Cmp(v) != 0 {
			return false
		}
	}
	return true
}

// Compute returns the usage of the quota resources named in q.Spec.Hard by
// objs, the objects of resource gr in the quota's namespace (objects that
// only count may be nil). Objects the quota's scopes do not select are
// left out.
func Compute(q *corev1.ResourceQuota, gr schema.GroupResource, objs []runtime.Object) corev1.ResourceList {
	total := corev1.ResourceList{}
	for _, o := range objs {
		if Matches(q, gr, o) {
			addTo(total, Usage(gr, o))
		}
	}
	return Mask(total, q.Spec.Hard)
}

// Zero returns the names of hard that measure resource gr, with zero
// amounts: the usage when there are no objects.
func Zero(hard corev1.ResourceList, gr schema.GroupResource) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name := range hard {
		if r, ok := ResourceOf(name); ok && r == gr {
			out[name] = *resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	return out
}
