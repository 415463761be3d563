package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validLimitRange() *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "ns"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{
				Type:                 corev1.LimitTypeContainer,
				Min:                  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")},
				DefaultRequest:       corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Default:              corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
				Max:                  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			},
			{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
		}},
	}
}

func TestLimitRange(t *testing.T) {
	q := resource.MustParse
	runCreate(t, validLimitRange, []testCase[*corev1.LimitRange]{
		{"valid", func(*corev1.LimitRange) {}, nil},
		{"no type", func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Type = "" }, []want{required("spec.limits[1].type")}},
		{"unknown type", func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Type = "Node" }, []want{notSupported("spec.limits[1].type")}},
		{"duplicate type", func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Type = corev1.LimitTypeContainer },
			[]want{duplicate("spec.limits[1].type")}},
		{"default for pods", func(lr *corev1.LimitRange) {
			lr.Spec.Limits[1].Default = corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}
		}, []want{forbidden("spec.limits[1].default")}},
		{"min above default request", func(lr *corev1.LimitRange) { lr.Spec.Limits[0].Min[corev1.ResourceCPU] = q("150m") },
			[]want{invalid("spec.limits[0].min[cpu]")}},
		{"default above max", func(lr *corev1.LimitRange) { lr.Spec.Limits[0].Default[corev1.ResourceCPU] = q("2") },
			[]want{invalid("spec.limits[0].default[cpu]")}},
		{"ratio below one", func(lr *corev1.LimitRange) { lr.Spec.Limits[0].MaxLimitRequestRatio[corev1.ResourceCPU] = q("500m") },
			[]want{invalid("spec.limits[0].maxLimitRequestRatio[cpu]")}},
		{"ratio above max/min", func(lr *corev1.LimitRange) { lr.Spec.Limits[0].MaxLimitRequestRatio[corev1.ResourceCPU] = q("200") },
			[]want{invalid("spec.limits[0].maxLimitRequestRatio[cpu]")}},
		{"negative", func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Max[corev1.ResourceMemory] = q("-1") },
			[]want{invalid("spec.limits[1].max[memory]")}},
		{"bad resource", func(lr *corev1.LimitRange) { lr.Spec.Limits[1].Max["pods"] = q("1") },
			[]want{invalid("spec.limits[1].max[pods]")}},
		{"pvc takes storage only", func(lr *corev1.LimitRange) {
			lr.Spec.Limits = append(lr.Spec.Limits, corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim,
				Max: corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceStorage: q("1Gi")}})
		}, []want{notSupported("spec.limits[2].max[cpu]")}},
		{"no name", func(lr *corev1.LimitRange) { lr.Name = "" }, []want{required("metadata.name")}},
	})
}

func validResourceQuota() *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "quota", Namespace: "ns"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("10"), corev1.ResourceRequestsCPU: resource.MustParse("2"),
			"count/deployments.apps": resource.MustParse("3"), "requests.example.com/gpu": resource.MustParse("1"),
		}},
	}
}

func TestResourceQuota(t *testing.T) {
	q := resource.MustParse
	runCreate(t, validResourceQuota, []testCase[*corev1.ResourceQuota]{
		{"valid", func(*corev1.ResourceQuota) {}, nil},
		{"negative", func(rq *corev1.ResourceQuota) { rq.Spec.Hard[corev1.ResourceRequestsCPU] = q("-1") },
			[]want{invalid("spec.hard[requests.cpu]")}},
		{"fractional count", func(rq *corev1.ResourceQuota) { rq.Spec.Hard[corev1.ResourcePods] = q("1500m") },
			[]want{invalid("spec.hard[pods]")}},
		{"unknown resource", func(rq *corev1.ResourceQuota) { rq.Spec.Hard["widgets"] = q("1") },
			[]want{invalid("spec.hard[widgets]")}},
		{"bad count", func(rq *corev1.ResourceQuota) { rq.Spec.Hard["count/Bad_Name"] = q("1") },
			[]want{invalid("spec.hard[count/Bad_Name]")}},
		{"unknown scope", func(rq *corev1.ResourceQuota) { rq.Spec.Scopes = []corev1.ResourceQuotaScope{"Weekend"} },
			[]want{notSupported("spec.scopes[0]")}},
		{"conflicting scopes", func(rq *corev1.ResourceQuota) {
			delete(rq.Spec.Hard, "count/deployments.apps")
			delete(rq.Spec.Hard, "requests.example.com/gpu")
			rq.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating}
		}, []want{invalid("spec.scopes")}},
		{"scope does not fit resource", func(rq *corev1.ResourceQuota) {
			rq.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
		}, []want{invalid("spec.hard[count/deployments.apps]"), invalid("spec.hard[requests.cpu]"), invalid("spec.hard[requests.example.com/gpu]")}},
		{"scope selector", func(rq *corev1.ResourceQuota) {
			rq.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: q("1")}
			rq.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
				{ScopeName: corev1.ResourceQuotaScopeBestEffort, Operator: corev1.ScopeSelectorOpExists},
				{ScopeName: corev1.ResourceQuotaScopeTerminating, Operator: corev1.ScopeSelectorOpIn, Values: []string{"x"}},
			}}
		}, []want{notSupported("spec.scopeSelector.matchExpressions[1].operator")}},
		{"priority class", func(rq *corev1.ResourceQuota) {
			rq.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: q("1"), corev1.ResourceRequestsCPU: q("1")}
			rq.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
				{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}},
				{ScopeName: corev1.ResourceQuotaScopeCrossNamespacePodAffinity, Operator: corev1.ScopeSelectorOpDoesNotExist},
			}}
		}, nil},
		{"priority class without values", func(rq *corev1.ResourceQuota) {
			rq.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: q("1")}
			rq.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
				{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpNotIn},
				{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpExists, Values: []string{"x"}},
			}}
		}, []want{required("spec.scopeSelector.matchExpressions[0].values"), invalid("spec.scopeSelector.matchExpressions[1].values")}},
		{"bad status", func(rq *corev1.ResourceQuota) { rq.Status.Used = corev1.ResourceList{corev1.ResourcePods: q("-2")} },
			[]want{invalid("status.used[pods]")}},
	})
	runUpdate(t, validResourceQuota, false, []testCase[*corev1.ResourceQuota]{
		{"hard changes", func(rq *corev1.ResourceQuota) { rq.Spec.Hard[corev1.ResourcePods] = q("20") }, nil},
		{"scopes are immutable", func(rq *corev1.ResourceQuota) {
			rq.Spec.Hard = corev1.ResourceList{corev1.ResourcePods: q("1")}
			rq.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
		}, []want{invalid("spec.scopes")}},
	})
	runUpdate(t, validResourceQuota, true, []testCase[*corev1.ResourceQuota]{
		{"status", func(rq *corev1.ResourceQuota) { rq.Status.Used = corev1.ResourceList{corev1.ResourcePods: q("2")} }, nil},
		{"negative used", func(rq *corev1.ResourceQuota) { rq.Status.Used = corev1.ResourceList{corev1.ResourcePods: q("-2")} },
			[]want{invalid("status.used[pods]")}},
	})
}
