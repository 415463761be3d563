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

// Scopes returns the scopes a quota selects by, from spec.scopes and
// spec.scopeSelector (Exists and DoesNotExist expressions).
func Scopes(q *corev1.ResourceQuota) []corev1.ResourceQuotaScope {
	scopes := slices.Clone(q.Spec.Scopes)
	if q.Spec.ScopeSelector != nil {
		for _, e := range q.Spec.ScopeSelector.MatchExpressions {
			switch e.Operator {
			case corev1.ScopeSelectorOpExists:
				scopes = append(scopes, e.ScopeName)
			case corev1.ScopeSelectorOpDoesNotExist:
				scopes = append(scopes, negation(e.ScopeName))
			default:
				scopes = append(scopes, "unsupported:"+e.ScopeName)
			}
		}
	}
	return scopes
}

func negation(s corev1.ResourceQuotaScope) corev1.ResourceQuotaScope {
	switch s {
	case corev1.ResourceQuotaScopeTerminating:
		return corev1.ResourceQuotaScopeNotTerminating
	case corev1.ResourceQuotaScopeNotTerminating:
		return corev1.ResourceQuotaScopeTerminating
	case corev1.ResourceQuotaScopeBestEffort:
		return corev1.ResourceQuotaScopeNotBestEffort
	case corev1.ResourceQuotaScopeNotBestEffort:
		return corev1.ResourceQuotaScopeBestEffort
	}
	return "unsupported:" + s
}

// Matches reports whether quota q applies to obj, an object of resource
// gr: a quota without scopes applies to every object; scopes select pods
// only (Terminating: activeDeadlineSeconds set; BestEffort: no requests or
// limits; and their negations).
func Matches(q *corev1.ResourceQuota, gr schema.GroupResource, obj runtime.Object) bool {
	scopes := Scopes(q)
	if len(scopes) == 0 {
		return true
	}
	pod, ok := obj.(*corev1.Pod)
	if gr != podsResource || !ok {
		return false
	}
	for _, s := range scopes {
		terminating := pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
		var match bool
		switch s {
		case corev1.ResourceQuotaScopeTerminating:
			match = terminating
		case corev1.ResourceQuotaScopeNotTerminating:
			match = !terminating
		case corev1.ResourceQuotaScopeBestEffort:
			match = BestEffort(pod)
		case corev1.ResourceQuotaScopeNotBestEffort:
			match = !BestEffort(pod)
		}
		if !match {
			return false
		}
	}
	return true
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
