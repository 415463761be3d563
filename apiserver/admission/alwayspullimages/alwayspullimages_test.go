package alwayspullimages_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/alwayspullimages"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent}},
		Containers: []corev1.Container{
			{Name: "web", Image: "nginx", ImagePullPolicy: corev1.PullNever},
			{Name: "side", Image: "envoy", ImagePullPolicy: corev1.PullIfNotPresent},
		},
	}}
}

func request(op apiserver.Operation, obj, old *corev1.Pod) *apiserver.AdmissionRequest {
	req := &apiserver.AdmissionRequest{Operation: op, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Namespace: "ns", Name: "p", Object: obj}
	if old != nil {
		req.OldObject = old
	}
	return req
}

func TestCreate(t *testing.T) {
	p := alwayspullimages.New()
	ctx := context.Background()
	pod := testPod()
	require.Error(t, p.Validate(ctx, request(apiserver.Create, pod, nil)), "validation alone must deny other policies")
	require.NoError(t, p.Admit(ctx, request(apiserver.Create, pod, nil)))
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		require.Equal(t, corev1.PullAlways, c.ImagePullPolicy, c.Name)
	}
	require.NoError(t, p.Validate(ctx, request(apiserver.Create, pod, nil)))
}

func TestUpdate(t *testing.T) {
	p := alwayspullimages.New()
	ctx := context.Background()

	t.Run("same images", func(t *testing.T) {
		old, pod := testPod(), testPod()
		pod.Labels = map[string]string{"a": "b"}
		require.NoError(t, p.Admit(ctx, request(apiserver.Update, pod, old)))
		require.Equal(t, corev1.PullNever, pod.Spec.Containers[0].ImagePullPolicy, "a pod's policies are immutable; only new images change")
		require.NoError(t, p.Validate(ctx, request(apiserver.Update, pod, old)))
	})
	t.Run("new image", func(t *testing.T) {
		old, pod := testPod(), testPod()
		pod.Spec.Containers[1].Image = "envoy:2"
		err := p.Validate(ctx, request(apiserver.Update, pod, old))
		require.ErrorContains(t, err, `spec.containers[side].imagePullPolicy is "IfNotPresent"`)
		require.NotContains(t, err.Error(), "web")
		require.NoError(t, p.Admit(ctx, request(apiserver.Update, pod, old)))
		require.Equal(t, corev1.PullAlways, pod.Spec.Containers[1].ImagePullPolicy)
		require.Equal(t, corev1.PullNever, pod.Spec.Containers[0].ImagePullPolicy)
		require.NoError(t, p.Validate(ctx, request(apiserver.Update, pod, old)))
	})
	t.Run("status", func(t *testing.T) {
		req := request(apiserver.Update, testPod(), testPod())
		req.Subresource = "status"
		require.NoError(t, p.Admit(ctx, req))
		require.Equal(t, corev1.PullNever, req.Object.(*corev1.Pod).Spec.Containers[0].ImagePullPolicy)
	})
}
