package apiserver

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/apiserver/defaults"
	"github.com/gantryhq/gantry/apiserver/validation"
)

// policyResources are the core/v1 policy objects of a namespace:
// LimitRanges (limits), the bounds and defaults of container resources, and
// ResourceQuotas (quota), the caps on what a namespace consumes. The server
// stores, defaults and validates them; admission plugins
// (apiserver/admission/limitranger and apiserver/admission/resourcequota)
// enforce them and the resource quota controller keeps quota status current.
func policyResources() []Resource {
	return []Resource{
		{
			GroupVersionKind: corev1.SchemeGroupVersion.WithKind("LimitRange"),
			Plural:           "limitranges", ShortNames: []string{"limits"}, Namespaced: true,
			New:      func() runtime.Object { return &corev1.LimitRange{} },
			NewList:  func() runtime.Object { return &corev1.LimitRangeList{} },
			Default:  func(obj runtime.Object) { defaultLimitRange(obj.(*corev1.LimitRange)) },
			Validate: func(obj runtime.Object) field.ErrorList { return validation.LimitRange(obj.(*corev1.LimitRange)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validation.LimitRangeUpdate(obj.(*corev1.LimitRange), old.(*corev1.LimitRange))
			},
			Columns: []metav1.TableColumnDefinition{{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}},
			Cells: func(obj runtime.Object) []any {
				return []any{mustAccessor(obj).GetCreationTimestamp().UTC().Format(time.RFC3339)}
			},
			noAge: true,
		},
		{
			GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ResourceQuota"),
			Plural:           "resourcequotas", ShortNames: []string{"quota"}, Namespaced: true,
			New:      func() runtime.Object { return &corev1.ResourceQuota{} },
			NewList:  func() runtime.Object { return &corev1.ResourceQuotaList{} },
			Status:   true,
			Default:  func(obj runtime.Object) { defaultResourceQuota(obj.(*corev1.ResourceQuota)) },
			Validate: func(obj runtime.Object) field.ErrorList { return validation.ResourceQuota(obj.(*corev1.ResourceQuota)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validation.ResourceQuotaUpdate(obj.(*corev1.ResourceQuota), old.(*corev1.ResourceQuota))
			},
			ValidateStatusUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validation.ResourceQuotaStatusUpdate(obj.(*corev1.ResourceQuota), old.(*corev1.ResourceQuota))
			},
			Columns: []metav1.TableColumnDefinition{
				{Name: "Request", Type: "string", Description: "Request represents a minimum amount of cpu/memory that a container may consume."},
				{Name: "Limit", Type: "string", Description: "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."},
			},
			Cells: func(obj runtime.Object) []any {
				req, lim := quotaCells(obj.(*corev1.ResourceQuota))
				return []any{req, lim}
			},
			ageFirst: true,
		},
	}
}

// quotaCells renders a quota's status as kubectl get does: "used/hard"
// per resource, the limits.* resources in the second cell and all others
// in the first.
func quotaCells(q *corev1.ResourceQuota) (requests, limits string) {
	names := make([]string, 0, len(q.Status.Hard))
	for name := range q.Status.Hard {
		names = append(names, string(name))
	}
	sort.Strings(names)
	var req, lim []string
	for _, name := range names {
		hard := q.Status.Hard[corev1.ResourceName(name)]
		used := q.Status.Used[corev1.ResourceName(name)]
		cell := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if strings.HasPrefix(name, "limits.") {
			lim = append(lim, cell)
		} else {
			req = append(req, cell)
		}
	}
	return strings.Join(req, ", "), strings.Join(lim, ", ")
}

// defaultLimitRange applies the defaults Kubernetes gives a LimitRange:
// quantities are rounded up to milli-units, and for the Container type a
// missing default limit is the max, and a missing default request is the
// default limit, else the min.
func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		for _, l := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
			defaults.ResourceList(l)
		}
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for name, q := range item.Max {
			if _, ok := item.Default[name]; !ok {
				if item.Default == nil {
					item.Default = corev1.ResourceList{}
				}
				item.Default[name] = q.DeepCopy()
			}
		}
		for name, q := range item.Default {
			if _, ok := item.DefaultRequest[name]; !ok {
				if item.DefaultRequest == nil {
					item.DefaultRequest = corev1.ResourceList{}
				}
				item.DefaultRequest[name] = q.DeepCopy()
			}
		}
		for name, q := range item.Min {
			if _, ok := item.DefaultRequest[name]; !ok {
				if item.DefaultRequest == nil {
					item.DefaultRequest = corev1.ResourceList{}
				}
				item.DefaultRequest[name] = q.DeepCopy()
			}
		}
	}
}

// defaultResourceQuota rounds the quantities of a quota up to
// milli-units.
func defaultResourceQuota(q *corev1.ResourceQuota) {
	defaults.ResourceList(q.Spec.Hard)
	defaults.ResourceList(q.Status.Hard)
	defaults.ResourceList(q.Status.Used)
}
