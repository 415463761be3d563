package priority_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/priority"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/store/memory"
)

func TestPriority(t *testing.T) {
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	plugin, err := priority.New(st)
	require.NoError(t, err)
	s := apiservertest.Start(t, apiserver.Options{Store: st, Admission: []any{plugin}})
	ctx := context.Background()
	cs := s.Client
	newPod := func(name string, mutate func(*corev1.Pod)) (*corev1.Pod, error) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "gantry.local/busybox"}}}}
		if mutate != nil {
			mutate(p)
		}
		return cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	}

	// The system classes exist from the start.
	pcs, err := cs.SchedulingV1().PriorityClasses().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pcs.Items, 2)
	pod, err := newPod("critical", func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" })
	require.NoError(t, err)
	require.Equal(t, int32(2000001000), *pod.Spec.Priority)
	require.Equal(t, corev1.PreemptLowerPriority, *pod.Spec.PreemptionPolicy)

	pod, err = newPod("plain", nil)
	require.NoError(t, err)
	require.Equal(t, int32(0), *pod.Spec.Priority)
	require.Empty(t, pod.Spec.PriorityClassName)

	_, err = cs.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Value: 100, GlobalDefault: true, PreemptionPolicy: ptr.To(corev1.PreemptNever),
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod, err = newPod("defaulted", nil)
	require.NoError(t, err)
	require.Equal(t, int32(100), *pod.Spec.Priority)
	require.Equal(t, "batch", pod.Spec.PriorityClassName)
	require.Equal(t, corev1.PreemptNever, *pod.Spec.PreemptionPolicy)

	for _, tc := range []struct {
		name   string
		mutate func(*corev1.Pod)
		want   string
	}{
		{"missing class", func(p *corev1.Pod) { p.Spec.PriorityClassName = "gold" }, "no PriorityClass with name gold was found"},
		{"own priority", func(p *corev1.Pod) { p.Spec.Priority = ptr.To[int32](7) }, "the integer value of priority (7) must not be provided in pod spec"},
	} {
		_, err := newPod("refused", tc.mutate)
		require.True(t, apierrors.IsForbidden(err), "%s: %v", tc.name, err)
		require.ErrorContains(t, err, tc.want)
	}

	// One global default at most; bad classes are invalid.
	_, err = cs.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "web"}, Value: 10, GlobalDefault: true,
	}, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, "PriorityClass batch is already marked as default")
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Value: 1000000001},
		{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 1},
		{ObjectMeta: metav1.ObjectMeta{Name: "odd"}, Value: 1, PreemptionPolicy: ptr.To(corev1.PreemptionPolicy("Sometimes"))},
	} {
		_, err := cs.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{})
		require.True(t, apierrors.IsInvalid(err), "%s: %v", pc.Name, err)
	}
	batch, err := cs.SchedulingV1().PriorityClasses().Get(ctx, "batch", metav1.GetOptions{})
	require.NoError(t, err)
	batch.Value = 5
	_, err = cs.SchedulingV1().PriorityClasses().Update(ctx, batch, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "the value is immutable: %v", err)
}
