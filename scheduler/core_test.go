package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/scheduler"
)

func qpod(name string, prio int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name)},
		Spec:       corev1.PodSpec{Priority: &prio},
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name             string
		s                *scheduler.Status
		code             scheduler.Code
		success, rejects bool
		err              string
	}{
		{"nil", nil, scheduler.Success, true, false, ""},
		{"unschedulable", scheduler.NewStatus(scheduler.Unschedulable, "a", "b"), scheduler.Unschedulable, false, true, "a, b"},
		{"unresolvable", scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, "x").WithPlugin("P"), scheduler.UnschedulableAndUnresolvable, false, true, `plugin "P": x`},
		{"error", scheduler.AsStatus(context.Canceled), scheduler.Error, false, false, "context canceled"},
		{"skip", scheduler.NewStatus(scheduler.Skip), scheduler.Skip, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.code, tc.s.Code())
			assert.Equal(t, tc.success, tc.s.IsSuccess())
			assert.Equal(t, tc.rejects, tc.s.IsRejected())
			if tc.err == "" {
				assert.NoError(t, tc.s.AsError())
			} else {
				assert.EqualError(t, tc.s.AsError(), tc.err)
			}
		})
	}
	assert.ErrorIs(t, scheduler.AsStatus(fmt.Errorf("x: %w", context.Canceled)).AsError(), context.Canceled)
}

func TestFitErrorMessage(t *testing.T) {
	fe := &scheduler.FitError{NumAllNodes: 5, NodeToStatus: map[string]*scheduler.Status{
		"a": scheduler.NewStatus(scheduler.Unschedulable, "Insufficient cpu"),
		"b": scheduler.NewStatus(scheduler.Unschedulable, "Insufficient cpu", "Insufficient memory"),
		"c": scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, "node(s) had untolerated taint {k: v}"),
	}}
	assert.Equal(t, "0/5 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu.", fe.Error())
	fe = &scheduler.FitError{NumAllNodes: 2, PreFilterMsg: "bad selector"}
	assert.Equal(t, "0/2 nodes are available: bad selector.", fe.Error())
}

func TestQueueOrderAndBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(benchStart)
	q := scheduler.NewQueue(scheduler.QueueOptions{Now: clk.Now})
	q.Add(qpod("low", 1))
	clk.Step(time.Millisecond)
	q.Add(qpod("high", 10))
	clk.Step(time.Millisecond)
	q.Add(qpod("low2", 1))
	var order []string
	for qp := q.TryPop(); qp != nil; qp = q.TryPop() {
		order = append(order, qp.Pod.Name)
	}
	assert.Equal(t, []string{"high", "low", "low2"}, order)

	backoffs := []struct {
		attempts int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {9, 10 * time.Second}}
	for _, b := range backoffs {
		t.Run(fmt.Sprintf("attempts=%d", b.attempts), func(t *testing.T) {
			assert.Equal(t, b.want, q.BackoffDuration(b.attempts))
		})
	}
}

func TestQueueUnschedulableMovesOnEvent(t *testing.T) {
	nodeAdd := func(q *scheduler.Queue) { q.OnEvent(scheduler.EventNodeAdd, nil, &corev1.Node{}) }
	moveAll := func(q *scheduler.Queue) { q.MoveAllToActiveOrBackoff() }
	tests := []struct {
		name       string
		errored    bool
		event      func(q *scheduler.Queue)
		eventDelay time.Duration // after failure; <0: event during the cycle
		step       time.Duration
		wantActive bool
	}{
		{"no event stays unschedulable", false, nil, 0, 20 * time.Second, false},
		{"event -> active at once, no back-off", false, nodeAdd, 0, 0, true},
		{"event during cycle -> active when it comes back", false, nodeAdd, -1, 0, true},
		{"move all before back-off expiry -> back-off", false, moveAll, 0, 0, false},
		{"move all before back-off expiry -> back-off, then flush", false, moveAll, 0, time.Second, true},
		{"move all after back-off expiry -> active", false, moveAll, 2 * time.Second, 0, true},
		{"move all during cycle -> back-off, then flush", false, moveAll, -1, time.Second, true},
		{"error -> back-off", true, nil, 0, 0, false},
		{"error -> back-off, then flush", true, nil, 0, time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(benchStart)
			q := scheduler.NewQueue(scheduler.QueueOptions{Now: clk.Now})
			q.Add(qpod("p", 0))
			qp := q.TryPop()
			cycle := q.SchedulingCycle()
			if tc.event != nil && tc.eventDelay < 0 {
				tc.event(q)
			}
			q.AddUnschedulable(qp, cycle, tc.errored)
			if tc.event != nil && tc.eventDelay >= 0 {
				clk.Step(tc.eventDelay)
				tc.event(q)
			}
			clk.Step(tc.step)
			q.FlushBackoffCompleted()
			a, _, _ := q.Len()
			assert.Equal(t, tc.wantActive, a == 1)
		})
	}
}

// TestQueueHints: only the pods whose rejecting plugins say an event may
// help move, and events that arrived while a pod was in flight count
// when it comes back; earlier ones do not.
func TestQueueHints(t *testing.T) {
	clk := clocktesting.NewFakeClock(benchStart)
	// "taint" pods are helped by node updates, "fit" pods by pod deletions.
	hint := func(qp *scheduler.QueuedPodInfo, ev scheduler.ClusterEvent, _, _ any) bool {
		switch {
		case qp.UnschedulablePlugins.Has("Taints"):
			return ev.Resource == scheduler.NodeResource
		case qp.UnschedulablePlugins.Has("Fit"):
			return ev == scheduler.EventAssignedPodDelete
		}
		return true
	}
	q := scheduler.NewQueue(scheduler.QueueOptions{Now: clk.Now, Hint: hint})
	fail := func(name, plugin string, during func()) {
		t.Helper()
		q.Add(qpod(name, 0))
		qp := q.TryPop()
		require.Equal(t, name, qp.Pod.Name)
		cycle := q.SchedulingCycle()
		if during != nil {
			during()
		}
		qp.UnschedulablePlugins = sets.New(plugin)
		q.AddUnschedulable(qp, cycle, false)
	}
	popAll := func() []string {
		var names []string
		for qp := q.TryPop(); qp != nil; qp = q.TryPop() {
			names = append(names, qp.Pod.Name)
			q.Done(qp.Pod.UID)
		}
		return names
	}
	fail("tainted", "Taints", nil)
	fail("big", "Fit", nil)
	q.OnEvent(scheduler.ClusterEvent{}, nil, nil) // empty: nothing
	q.OnEvent(scheduler.EventAssignedPodAdd, nil, qpod("other", 0))
	assert.Empty(t, popAll())
	q.OnEvent(scheduler.NodeUpdateEvent(&corev1.Node{}, &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}}), nil, nil)
	assert.Equal(t, []string{"tainted"}, popAll())
	// A pod's own (assumed copy's) deletion does not help it.
	q.OnEvent(scheduler.EventAssignedPodDelete, qpod("big", 0), nil)
	assert.Empty(t, popAll())
	q.OnEvent(scheduler.EventAssignedPodDelete, qpod("other", 0), nil)
	assert.Equal(t, []string{"big"}, popAll())

	// In flight: a helpful event during the cycle sends it back at once,
	// an unhelpful one does not.
	fail("tainted", "Taints", func() { q.OnEvent(scheduler.EventAssignedPodDelete, qpod("other", 0), nil) })
	assert.Empty(t, popAll())
	fail("big", "Fit", func() { q.OnEvent(scheduler.EventAssignedPodDelete, qpod("other", 0), nil) })
	assert.Equal(t, []string{"big"}, popAll())
	_, _, u := q.Len()
	assert.Equal(t, 1, u)
}

func TestNodeUpdateEvent(t *testing.T) {
	base := func() *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"zone": "a"}},
			Status:     corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}},
		}
	}
	tests := []struct {
		name   string
		mutate func(n *corev1.Node)
		want   scheduler.ActionType
	}{
		{"heartbeat", func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			n.ResourceVersion = "2"
		}, 0},
		{"uncordon", func(n *corev1.Node) { n.Spec.Unschedulable = true }, scheduler.UpdateNodeUnschedulable},
		{"taint", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
		}, scheduler.UpdateNodeTaint},
		{"label", func(n *corev1.Node) { n.Labels["zone"] = "b" }, scheduler.UpdateNodeLabel},
		{"allocatable", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("8") }, scheduler.UpdateNodeAllocatable},
		{"same quantity spelled differently", func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("4000m")
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := base()
			tc.mutate(n)
			ev := scheduler.NodeUpdateEvent(base(), n)
			assert.Equal(t, scheduler.NodeResource, ev.Resource)
			assert.Equal(t, tc.want, ev.Action, ev.String())
		})
	}
}

func TestQueueLeftoverAndPop(t *testing.T) {
	clk := clocktesting.NewFakeClock(benchStart)
	q := scheduler.NewQueue(scheduler.QueueOptions{Now: clk.Now})
	q.Add(qpod("p", 0))
	qp, err := q.Pop(context.Background())
	require.NoError(t, err)
	q.AddUnschedulable(qp, q.SchedulingCycle(), false)
	clk.Step(5 * time.Minute)
	q.FlushUnschedulableLeftover()
	a, b, u := q.Len()
	assert.Equal(t, [3]int{1, 0, 0}, [3]int{a, b, u})
	q.Delete(qp.Pod)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = q.Pop(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	q.Close()
	_, err = q.Pop(context.Background())
	assert.ErrorIs(t, err, scheduler.ErrQueueClosed)
}

func TestCacheAssumeConfirmExpire(t *testing.T) {
	clk := clocktesting.NewFakeClock(benchStart)
	c := scheduler.NewCache(scheduler.CacheOptions{Now: clk.Now, AssumedPodTTL: 30 * time.Second})
	c.AddNode(benchNode(0))
	c.AddNode(benchNode(1))
	snap := scheduler.NewEmptySnapshot()
	c.UpdateSnapshot(snap)
	require.Equal(t, 2, snap.NumNodes())

	p := benchPod("p", 0)
	p.Spec.NodeName = "node-0"
	require.NoError(t, c.AssumePod(p))
	assert.Error(t, c.AssumePod(p), "assuming twice")
	c.UpdateSnapshot(snap)
	n0, err := snap.Get("node-0")
	require.NoError(t, err)
	assert.Equal(t, int64(100), n0.Requested.MilliCPU)
	assert.Len(t, n0.Pods, 1)

	// Confirmed pods do not expire.
	c.FinishBinding(p)
	c.AddPod(p)
	clk.Step(time.Minute)
	assert.Empty(t, c.CleanupAssumedPods())
	assert.False(t, c.IsAssumedPod(p))

	// An assumed pod without confirmation expires after the TTL.
	q := benchPod("q", 0)
	q.Spec.NodeName = "node-1"
	require.NoError(t, c.AssumePod(q))
	c.FinishBinding(q)
	clk.Step(29 * time.Second)
	assert.Empty(t, c.CleanupAssumedPods())
	clk.Step(2 * time.Second)
	assert.Len(t, c.CleanupAssumedPods(), 1)
	c.UpdateSnapshot(snap)
	n1, _ := snap.Get("node-1")
	assert.Equal(t, int64(0), n1.Requested.MilliCPU)

	// ForgetPod undoes an assumption; RemoveNode drops the node.
	r := benchPod("r", 0)
	r.Spec.NodeName = "node-1"
	require.NoError(t, c.AssumePod(r))
	c.ForgetPod(r)
	c.RemoveNode(benchNode(1))
	c.UpdateSnapshot(snap)
	assert.Equal(t, 1, snap.NumNodes())
	_, err = snap.Get("node-1")
	assert.ErrorIs(t, err, scheduler.ErrNotFound)
	assert.Equal(t, 1, c.PodCount())
}

func TestRegistryDuplicates(t *testing.T) {
	f := func(any, scheduler.Handle) (scheduler.Plugin, error) { return nil, nil }
	r := scheduler.Registry{}
	require.NoError(t, r.Register("a", f))
	assert.ErrorIs(t, r.Register("a", f), scheduler.ErrDuplicatePlugin)
	assert.ErrorIs(t, r.Merge(scheduler.Registry{"a": f}), scheduler.ErrDuplicatePlugin)
}

func TestCycleState(t *testing.T) {
	cs := scheduler.NewCycleState()
	_, err := cs.Read("k")
	assert.True(t, errors.Is(err, scheduler.ErrNotFound))
	cs.Write("k", intState(1))
	cs.Write("k", intState(2))
	c := cs.Clone()
	cs.Write("k", intState(3))
	v, err := c.Read("k")
	require.NoError(t, err)
	assert.Equal(t, intState(2), v)
}

type intState int

func (i intState) Clone() scheduler.StateData { return i }

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct   int32
		nodes int
		want  int
	}{{0, 50, 50}, {0, 500, 230}, {0, 5000, 500}, {0, 15000, 750}, {100, 5000, 5000}, {10, 300, 100}, {30, 1000, 300}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d%%of%d", tc.pct, tc.nodes), func(t *testing.T) {
			assert.Equal(t, tc.want, scheduler.NumFeasibleNodesToFind(tc.pct, tc.nodes))
		})
	}
}

// TestQueueUpdatesInFlight: a pod updated while in its attempt is not
// queued twice; a status-only update leaves it unschedulable, a spec
// change retries it, a deletion drops it.
func TestQueueUpdatesInFlight(t *testing.T) {
	tests := []struct {
		name       string
		during     func(q *scheduler.Queue, p *corev1.Pod)
		wantActive int
		wantUnsch  int
	}{
		{"status only", func(q *scheduler.Queue, p *corev1.Pod) {
			n := p.DeepCopy()
			n.Status.NominatedNodeName = "n1"
			q.Update(p, n)
		}, 0, 1},
		{"spec changed", func(q *scheduler.Queue, p *corev1.Pod) {
			n := p.DeepCopy()
			n.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			q.Update(p, n)
		}, 1, 0},
		{"deleted", func(q *scheduler.Queue, p *corev1.Pod) { q.Delete(p) }, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := scheduler.NewQueue(scheduler.QueueOptions{Now: clocktesting.NewFakeClock(benchStart).Now})
			q.Add(qpod("p", 0))
			qp := q.TryPop()
			cycle := q.SchedulingCycle()
			tc.during(q, qp.Pod)
			a, _, _ := q.Len()
			require.Equal(t, 0, a, "not queued twice while in flight")
			q.AddUnschedulable(qp, cycle, false)
			a, _, u := q.Len()
			assert.Equal(t, tc.wantActive, a)
			assert.Equal(t, tc.wantUnsch, u)
		})
	}
}
