package nodeagent_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// TestCrashLoopBackOffOnFakeClock: a container that exits after 1s with
// code 1 is restarted at once the first time (as the kubelet does: no
// CrashLoopBackOff before the first restart), then after 10s, 20s and 40s
// of back-off - and never earlier, however long the test takes, because
// all time is the fake clock's.
func TestCrashLoopBackOffOnFakeClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt, err := fake.New(fake.Options{
		Clock:  clk,
		Images: []string{"app:1"},
		Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior {
			return fake.Behavior{ExitAfter: time.Second, ExitCode: 1}
		},
	})
	require.NoError(t, err)
	cs := apiServer(t)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "n1", Client: cs, Runtime: rt, Clock: clk,
		SyncInterval: time.Second, BackOff: 10 * time.Second, MaxBackOff: 5 * time.Minute,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	pods := cs.CoreV1().Pods("default")
	_, err = pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crash"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	status := func() corev1.ContainerStatus {
		p, err := pods.Get(ctx, "crash", metav1.GetOptions{})
		require.NoError(t, err)
		if len(p.Status.ContainerStatuses) == 0 {
			return corev1.ContainerStatus{}
		}
		return p.Status.ContainerStatuses[0]
	}
	// waitStatus polls the API (real time, bounded) without moving the clock.
	waitStatus := func(what string, cond func(corev1.ContainerStatus) bool) {
		t.Helper()
		require.Eventually(t, func() bool { return cond(status()) }, 20*time.Second, 10*time.Millisecond, what)
	}
	waitStatus("the container runs", func(s corev1.ContainerStatus) bool { return s.State.Running != nil })

	// The first exit is followed by a restart without back-off.
	clk.Step(time.Second)
	waitStatus("the first restart, at once", func(s corev1.ContainerStatus) bool {
		return s.RestartCount == 1 && s.State.Running != nil
	})

	elapsed := time.Duration(0)
	for i, backoff := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		restart := i + 1
		// Exit after 1s, noticed on the next sync.
		clk.Step(time.Second)
		elapsed += time.Second
		waitStatus("crash-loop back-off", func(s corev1.ContainerStatus) bool {
			return s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" && s.RestartCount == int32(restart)
		})
		// Just before the back-off ends nothing restarts ...
		clk.Step(backoff - 2*time.Second)
		require.Never(t, func() bool { return status().RestartCount > int32(restart) }, 200*time.Millisecond, 20*time.Millisecond,
			"restarted before its %v back-off", backoff)
		// ... and once it has, it does.
		clk.Step(2 * time.Second)
		waitStatus("the restart", func(s corev1.ContainerStatus) bool {
			return s.RestartCount == int32(restart+1) && s.State.Running != nil
		})
	}
}
