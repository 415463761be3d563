package resourcequota_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/apiserver/admission/resourcequota"
)

func TestResourceOf(t *testing.T) {
	for name, want := range map[corev1.ResourceName]schema.GroupResource{
		"pods": corev1.Resource("pods"), "requests.cpu": corev1.Resource("pods"), "limits.memory": corev1.Resource("pods"),
		"cpu": corev1.Resource("pods"), "services.nodeports": corev1.Resource("services"), "configmaps": corev1.Resource("configmaps"),
		"count/deployments.apps": appsv1.Resource("deployments"), "count/secrets": corev1.Resource("secrets"),
		"requests.storage": corev1.Resource("persistentvolumeclaims"),
	} {
		got, ok := resourcequota.ResourceOf(name)
		require.True(t, ok, name)
		require.Equal(t, want, got, name)
	}
	_, ok := resourcequota.ResourceOf("example.com/widgets")
	require.False(t, ok)
	require.Equal(t, corev1.ResourceName("count/deployments.apps"), resourcequota.CountName(appsv1.Resource("deployments")))
	require.Equal(t, corev1.ResourceName("count/pods"), resourcequota.CountName(corev1.Resource("pods")))
}

func TestPodUsage(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("2")}, Limits: corev1.ResourceList{corev1.ResourceCPU: q("2")}}}},
		Containers: []corev1.Container{
			{Name: "a", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("128Mi")}}},
			{Name: "b", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("64Mi"), "example.com/gpu": q("1")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1500m"), "example.com/gpu": q("1")}}},
		},
		Overhead: corev1.ResourceList{corev1.ResourceMemory: q("10Mi")},
	}}
	got := map[corev1.ResourceName]string{}
	for name, v := range resourcequota.Usage(corev1.Resource("pods"), p) {
		got[name] = v.String()
	}
	require.Equal(t, map[corev1.ResourceName]string{
		"count/pods": "1", "pods": "1",
		"cpu": "2", "requests.cpu": "2", "limits.cpu": "2500m", // the init container needs more than the sum: 2 > 1
		"memory": "138Mi", "requests.memory": "138Mi", "limits.memory": "138Mi",
		"requests.example.com/gpu": "1", "limits.example.com/gpu": "1",
	}, got)
	require.False(t, resourcequota.BestEffort(p))

	p.Status.Phase = corev1.PodFailed
	require.True(t, resourcequota.Equal(corev1.ResourceList{"count/pods": q("1")}, resourcequota.Usage(corev1.Resource("pods"), p)),
		"a finished pod only counts")
}
