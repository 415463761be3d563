package limitranger_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/limitranger"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

var q = resource.MustParse

func limits() *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "ns"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{
				Type:                 corev1.LimitTypeContainer,
				Min:                  corev1.ResourceList{corev1.ResourceCPU: q("50m")},
				Max:                  corev1.ResourceList{corev1.ResourceCPU: q("1")},
				Default:              corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("256Mi")},
				DefaultRequest:       corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")},
				MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: q("10")},
			},
			{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}},
		}},
	}
}

func container(name string, requests, lims corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "x", Resources: corev1.ResourceRequirements{Requests: requests, Limits: lims}}
}

func TestDefault(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{container("init", nil, nil)},
		Containers: []corev1.Container{
			container("plain", nil, nil),
			container("own", corev1.ResourceList{corev1.ResourceCPU: q("200m")}, corev1.ResourceList{corev1.ResourceCPU: q("800m")}),
			container("small-limit", nil, corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}),
		},
	}}
	limitranger.Default(pod, limits())
	for _, c := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.Containers[0]} {
		require.Equal(t, "500m", ptr(c.Resources.Limits[corev1.ResourceCPU]), c.Name)
		require.Equal(t, "100m", ptr(c.Resources.Requests[corev1.ResourceCPU]), c.Name)
		require.Equal(t, "256Mi", ptr(c.Resources.Limits[corev1.ResourceMemory]), c.Name)
		require.Equal(t, "128Mi", ptr(c.Resources.Requests[corev1.ResourceMemory]), c.Name)
	}
	own := pod.Spec.Containers[1].Resources
	require.Equal(t, "800m", ptr(own.Limits[corev1.ResourceCPU]), "a container's own values are kept")
	require.Equal(t, "200m", ptr(own.Requests[corev1.ResourceCPU]))
	small := pod.Spec.Containers[2].Resources
	require.Equal(t, "64Mi", ptr(small.Requests[corev1.ResourceMemory]), "a default request is never above the limit")
}

func ptr(v resource.Quantity) string { return v.String() }

func TestCheck(t *testing.T) {
	cpu := func(req, lim string) corev1.Container {
		c := container("web", corev1.ResourceList{}, corev1.ResourceList{corev1.ResourceMemory: q("100Mi")})
		if req != "" {
			c.Resources.Requests[corev1.ResourceCPU] = q(req)
		}
		if lim != "" {
			c.Resources.Limits[corev1.ResourceCPU] = q(lim)
		}
		return c
	}
	for _, tt := range []struct {
		name       string
		containers []corev1.Container
		want       string
	}{
		{"fits", []corev1.Container{cpu("100m", "500m")}, ""},
		{"above max", []corev1.Container{cpu("1", "2")}, `maximum cpu usage per Container is 1, but limit is 2 (container "web", LimitRange "limits")`},
		{"no limit", []corev1.Container{cpu("100m", "")}, "maximum cpu usage per Container is 1, but no limit is specified"},
		{"below min", []corev1.Container{cpu("10m", "50m")}, "minimum cpu usage per Container is 50m, but request is 10m"},
		{"ratio", []corev1.Container{cpu("60m", "1")}, "cpu max limit to request ratio per Container is 10, but provided ratio is 16.666667"},
		{"pod max", []corev1.Container{
			container("a", nil, corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("600Mi")}),
			container("b", nil, corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("600Mi")}),
		}, `maximum memory usage per Pod is 1Gi, but limit is 1200Mi (LimitRange "limits")`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tt.containers}}
			for i := range pod.Spec.Containers {
				r := &pod.Spec.Containers[i].Resources
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				for name, v := range r.Limits {
					if _, ok := r.Requests[name]; !ok {
						r.Requests[name] = v
					}
				}
			}
			err := limitranger.Check(pod, limits())
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestPluginFromStore runs the plugin over LimitRanges in a store, as a
// master does.
func TestPluginFromStore(t *testing.T) {
	ctx := context.Background()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	lr := limits()
	value, err := json.Marshal(lr)
	require.NoError(t, err)
	_, err = st.Create(ctx, store.ObjectKey("limitranges", "ns", "limits"), value, store.WriteOptions{})
	require.NoError(t, err)
	p, err := limitranger.New(limitranger.Options{Lister: limitranger.StoreLister{Store: st}})
	require.NoError(t, err)
	_, err = limitranger.New(limitranger.Options{})
	require.Error(t, err)

	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container("web", nil, nil)}}}
	req := &apiserver.AdmissionRequest{Operation: apiserver.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
		Namespace: "ns", Name: "p", Object: pod}
	require.NoError(t, p.Admit(ctx, req))
	require.Equal(t, "500m", ptr(pod.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]))
	require.NoError(t, p.Validate(ctx, req))

	pod.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = q("3")
	require.ErrorContains(t, p.Validate(ctx, req), "maximum cpu usage per Container is 1, but limit is 3")

	req.Namespace = "other"
	require.NoError(t, p.Validate(ctx, req), "another namespace's limits do not apply")
	req.Namespace, req.Operation = "ns", apiserver.Update
	require.NoError(t, p.Validate(ctx, req), "pod updates are not checked")
}
