package limitranger_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/limitranger"
)

// A master lists the plugin first in its admission chain, over its store
// (limitranger.StoreLister); here the LimitRanges come from a function.
func ExampleNew() {
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:    corev1.LimitTypeContainer,
		Max:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
	}}}}
	lr.Name = "limits"
	p, _ := limitranger.New(limitranger.Options{Lister: limitranger.ListerFunc(func(context.Context, string) ([]*corev1.LimitRange, error) {
		return []*corev1.LimitRange{lr}, nil
	})})
	_ = apiserver.Options{Admission: []any{p /* , ..., the quota plugin last */}}

	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}}}
	req := &apiserver.AdmissionRequest{Operation: apiserver.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Namespace: "default", Name: "web", Object: pod}
	_ = p.Admit(context.Background(), req)
	fmt.Println("limit:", pod.Spec.Containers[0].Resources.Limits.Cpu())

	pod.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("2")
	fmt.Println(p.Validate(context.Background(), req))
	// Output:
	// limit: 500m
	// maximum cpu usage per Container is 1, but limit is 2 (container "web", LimitRange "limits")
}
