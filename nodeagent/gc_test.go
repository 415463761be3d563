package nodeagent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// TestContainerGarbageCollection: crash-looping containers leave exited
// attempts behind; garbage collection keeps as many as the limits say,
// always the newest attempt, and the restart count goes on.
func TestContainerGarbageCollection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*nodeagent.Options)
		// maxDead is the most exited containers left per pod (0: all
		// stay) and in all; pods is how many pods crash.
		maxDead, maxTotal, pods int
	}{
		{name: "default: one per container", maxDead: 1, maxTotal: 2, pods: 2},
		{name: "three per container", change: func(o *nodeagent.Options) { o.MaxPerPodContainer = 3 }, maxDead: 3, maxTotal: 6, pods: 2},
		{name: "no limit", change: func(o *nodeagent.Options) { o.MaxPerPodContainer = -1 }, pods: 1},
		{name: "too young", change: func(o *nodeagent.Options) { o.MinimumGCAge = time.Hour }, pods: 1},
		{name: "node-wide limit", change: func(o *nodeagent.Options) { o.MaxPerPodContainer = -1; o.MaxContainers = 3 }, maxTotal: 3, pods: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startFakeNode(t, fake.Options{
				Images: []string{"app:1"},
				Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior {
					return fake.Behavior{ExitAfter: time.Second, ExitCode: 1}
				},
			}, func(o *nodeagent.Options) {
				o.BackOff, o.MaxBackOff = time.Second, time.Second
				o.ContainerGCInterval = 1000 * time.Hour // the test collects
				if tc.change != nil {
					tc.change(o)
				}
			})
			for i := range tc.pods {
				_, err := n.admin.CoreV1().Pods("default").Create(n.ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crash-%d", i)},
					Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
						Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
					}}},
				}, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			n.eventually("five attempts of each pod", func() bool {
				for i := range tc.pods {
					if len(n.containers(fmt.Sprintf("crash-%d", i), "")) < 5 {
						return false
					}
				}
				return true
			})
			before := map[string]uint32{}
			for i := range tc.pods {
				name := fmt.Sprintf("crash-%d", i)
				for _, c := range n.containers(name, "") {
					before[name] = max(before[name], c.Attempt)
				}
			}
			require.NoError(t, n.agent.GarbageCollect(n.ctx))

			total := 0
			for i := range tc.pods {
				name := fmt.Sprintf("crash-%d", i)
				all := n.containers(name, "")
				newest := uint32(0)
				for _, c := range all {
					newest = max(newest, c.Attempt)
				}
				require.GreaterOrEqual(t, newest, before[name], "the newest attempt stays")
				dead := len(n.containers(name, runtime.ContainerExited))
				total += dead
				if tc.maxDead > 0 {
					require.LessOrEqual(t, dead, tc.maxDead, "exited containers of %s", name)
				}
				if tc.maxDead == 0 && tc.maxTotal == 0 {
					require.GreaterOrEqual(t, len(all), 5, "nothing removed")
				}
			}
			if tc.maxTotal > 0 {
				require.LessOrEqual(t, total, tc.maxTotal, "exited containers of the node")
			}
			n.eventually("the restart count goes on", func() bool {
				p := n.pod("crash-0")
				return len(p.Status.ContainerStatuses) == 1 && uint32(p.Status.ContainerStatuses[0].RestartCount) > before["crash-0"]
			})
		})
	}
}

// TestContainerGarbageCollectionRuns: the agent collects by itself every
// ContainerGCInterval.
func TestContainerGarbageCollectionRuns(t *testing.T) {
	n := startFakeNode(t, fake.Options{
		Images: []string{"app:1"},
		Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior {
			return fake.Behavior{ExitAfter: time.Second, ExitCode: 1}
		},
	}, func(o *nodeagent.Options) {
		o.BackOff, o.MaxBackOff = time.Second, time.Second
		o.ContainerGCInterval = 3 * time.Second
	})
	_, err := n.admin.CoreV1().Pods("default").Create(n.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "crash"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("many restarts, few containers", func() bool {
		p := n.pod("crash")
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 10 &&
			len(n.containers("crash", "")) <= 3
	})
}
