package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
)

// requeueRunner starts a Runner on a fake clock that never moves, with a
// back-off of an hour: a pod can only be scheduled again because an
// event moved it, never because a back-off or a timeout ran out. It
// returns the runner and the number of attempts per pod name.
func requeueRunner(t *testing.T, cs kubernetes.Interface) (*scheduler.Runner, func(name string) int) {
	t.Helper()
	var mu sync.Mutex
	attempts := map[string]int{}
	r, err := scheduler.NewRunner(scheduler.RunnerOptions{
		Client:         cs,
		Registry:       plugins.NewRegistry(),
		Profiles:       []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		Clock:          clocktesting.NewFakeClock(benchStart),
		InitialBackoff: time.Hour, MaxBackoff: time.Hour,
		OnResult: func(res scheduler.Result) {
			mu.Lock()
			attempts[res.Pod.Name]++
			mu.Unlock()
		},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return r, func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return attempts[name]
	}
}

// atOnce is how long "at once" may take: well under the back-off (an
// hour, on a clock that does not move), generous for a loaded machine.
const atOnce = 5 * time.Second

func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		<-time.After(5 * time.Millisecond)
	}
}

func boundTo(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return p.Spec.NodeName
}

func updateNode(t *testing.T, cs kubernetes.Interface, name string, mutate func(*corev1.Node)) {
	t.Helper()
	ctx := context.Background()
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	mutate(n)
	_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// TestRequeueOnClusterEvents runs a live scheduler against an in-process
// API server. In each case a pod is unschedulable, something changes in
// the cluster, and the pod is scheduled at once: the change, not a
// back-off, moves it.
func TestRequeueOnClusterEvents(t *testing.T) {
	tests := []struct {
		name string
		// setup makes the cluster in which pod "p" does not fit.
		setup func(t *testing.T, cs kubernetes.Interface)
		pod   *corev1.Pod
		// change is the event that lets it fit.
		change func(t *testing.T, cs kubernetes.Interface)
		node   string // where p must land
		// most attempts until p is bound; 0 means 2 (one failure, one
		// after the event).
		attempts int
	}{
		{
			name:  "uncordon",
			setup: func(t *testing.T, cs kubernetes.Interface) { createNode(t, cs, cordoned(liveNode("n1", nil))) },
			pod:   livePod("p", "100m", nil),
			change: func(t *testing.T, cs kubernetes.Interface) {
				updateNode(t, cs, "n1", func(n *corev1.Node) { n.Spec.Unschedulable = false })
			},
			node: "n1",
		},
		{
			name: "taint removed",
			setup: func(t *testing.T, cs kubernetes.Interface) {
				createNode(t, cs, liveNode("n1", nil, corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoSchedule}))
			},
			pod: livePod("p", "100m", nil),
			change: func(t *testing.T, cs kubernetes.Interface) {
				updateNode(t, cs, "n1", func(n *corev1.Node) { n.Spec.Taints = nil })
			},
			node: "n1",
		},
		{
			name:  "label added",
			setup: func(t *testing.T, cs kubernetes.Interface) { createNode(t, cs, liveNode("n1", nil)) },
			pod:   livePod("p", "100m", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			change: func(t *testing.T, cs kubernetes.Interface) {
				updateNode(t, cs, "n1", func(n *corev1.Node) { n.Labels["disk"] = "ssd" })
			},
			node: "n1",
		},
		{
			name:   "node added",
			setup:  func(t *testing.T, cs kubernetes.Interface) { createNode(t, cs, cordoned(liveNode("n1", nil))) },
			pod:    livePod("p", "100m", nil),
			change: func(t *testing.T, cs kubernetes.Interface) { createNode(t, cs, liveNode("n2", nil)) },
			node:   "n2",
			// The node is created, then its status (allocatable) is
			// written: each may help, and the pod only fits after both
			// (one attempt between them if it comes in between).
			attempts: 3,
		},
		{
			name: "pod deleted frees cpu",
			setup: func(t *testing.T, cs kubernetes.Interface) {
				createNode(t, cs, liveNode("n1", nil))
				createBound(t, cs, livePod("big", "3", nil), "n1")
			},
			pod: livePod("p", "2", nil),
			change: func(t *testing.T, cs kubernetes.Interface) {
				deleteNow(t, cs, "big")
			},
			node: "n1",
		},
		{
			name: "pod deleted frees anti-affinity",
			setup: func(t *testing.T, cs kubernetes.Interface) {
				createNode(t, cs, liveNode("n1", nil))
				createBound(t, cs, livePod("db", "100m", func(p *corev1.Pod) { p.Labels["app"] = "db" }), "n1")
			},
			pod: livePod("p", "100m", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				}}}}
			}),
			change: func(t *testing.T, cs kubernetes.Interface) {
				deleteNow(t, cs, "db")
			},
			node: "n1",
		},
		{
			name: "assigned pod relabelled satisfies affinity",
			setup: func(t *testing.T, cs kubernetes.Interface) {
				createNode(t, cs, liveNode("n1", nil))
				createBound(t, cs, livePod("cache", "100m", nil), "n1")
			},
			pod: livePod("p", "100m", func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}},
				}}}}
			}),
			change: func(t *testing.T, cs kubernetes.Interface) {
				ctx := context.Background()
				p, err := cs.CoreV1().Pods("default").Get(ctx, "cache", metav1.GetOptions{})
				require.NoError(t, err)
				p.Labels["app"] = "cache"
				_, err = cs.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
				require.NoError(t, err)
			},
			node: "n1",
		},
		{
			name:  "pending pod's own update",
			setup: func(t *testing.T, cs kubernetes.Interface) { createNode(t, cs, cordoned(liveNode("n1", nil))) },
			pod:   livePod("p", "100m", nil),
			change: func(t *testing.T, cs kubernetes.Interface) {
				ctx := context.Background()
				p, err := cs.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
				require.NoError(t, err)
				p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
				_, err = cs.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
				require.NoError(t, err)
			},
			node: "n1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := startCluster(t)
			tc.setup(t, cs)
			r, attempts := requeueRunner(t, cs)
			_, err := cs.CoreV1().Pods("default").Create(context.Background(), tc.pod, metav1.CreateOptions{})
			require.NoError(t, err)
			waitWithin(t, atOnce, "the pod is found unschedulable", func() bool {
				_, _, u := r.Scheduler().Queue.Len()
				return u == 1 && attempts("p") == 1
			})
			// A heartbeat (status only) is no event: the pod stays.
			rv := updateStatus(t, cs, "n1")
			waitWithin(t, atOnce, "the scheduler sees the heartbeat", func() bool {
				n := r.Scheduler().Cache.Node("n1")
				return n != nil && n.ResourceVersion == rv
			})
			_, _, u := r.Scheduler().Queue.Len()
			require.Equal(t, 1, u)
			require.Equal(t, 1, attempts("p"))

			want := tc.attempts
			if want == 0 {
				want = 2
			}
			tc.change(t, cs)
			waitWithin(t, atOnce, "the pod is scheduled", func() bool { return boundTo(t, cs, "p") != "" && attempts("p") >= 2 })
			require.Equal(t, tc.node, boundTo(t, cs, "p"))
			require.LessOrEqual(t, attempts("p"), want)
		})
	}
}

// deleteNow deletes a pod without a grace period (no node agent runs to
// finish a graceful deletion).
func deleteNow(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	zero := int64(0)
	require.NoError(t, cs.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}))
}

func cordoned(n *corev1.Node) *corev1.Node {
	n.Spec.Unschedulable = true
	return n
}

// createBound creates a pod already bound to node (as if scheduled).
func createBound(t *testing.T, cs kubernetes.Interface, p *corev1.Pod, node string) {
	t.Helper()
	p.Spec.NodeName = node
	_, err := cs.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{})
	require.NoError(t, err)
}

// updateStatus writes a new heartbeat time to the node's conditions and
// returns the node's new resourceVersion.
func updateStatus(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	ctx := context.Background()
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	for i := range n.Status.Conditions {
		n.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Minute))
	}
	n, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
	return n.ResourceVersion
}
