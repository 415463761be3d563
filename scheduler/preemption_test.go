package scheduler_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/priority"
	"github.com/gantryhq/gantry/store/memory"
)

// startPriorityCluster serves an API server that resolves PriorityClasses
// into pod.spec.priority (the Priority admission plugin, as masters run
// it), with classes low (100), high (1000) and high-never (1000,
// preemptionPolicy Never).
func startPriorityCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	prio, err := priority.New(st)
	require.NoError(t, err)
	cs := serveAPI(t, apiserver.Options{Store: st, Admission: []any{prio}})
	never := corev1.PreemptNever
	for _, pc := range []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 100},
		{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
		{ObjectMeta: metav1.ObjectMeta{Name: "high-never"}, Value: 1000, PreemptionPolicy: &never},
	} {
		_, err := cs.SchedulingV1().PriorityClasses().Create(context.Background(), pc, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	return cs
}

// finishDeletions plays the node agent's part in graceful deletion: a pod
// marked for deletion is removed at once (its containers "stopped").
func finishDeletions(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	go func() {
		defer close(done)
		zero := int64(0)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if ev.Type != watch.Modified || !ok || p.DeletionTimestamp == nil {
				continue
			}
			uid := p.UID
			_ = cs.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		}
	}()
}

func getPod(t *testing.T, cs kubernetes.Interface, name string) (*corev1.Pod, bool) {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil, false
	}
	return p, true
}

// TestPreemptionWithPriorityClasses: on a full node, a pod of a higher
// PriorityClass evicts a lower one (the victim is deleted, the preemptor
// nominated to the node and then bound there), while a pod of the same
// high priority whose class says preemptionPolicy Never waits instead.
func TestPreemptionWithPriorityClasses(t *testing.T) {
	cs := startPriorityCluster(t)
	finishDeletions(t, cs)
	createNode(t, cs, liveNode("n1", nil)) // 4 cpu
	r, attempts := requeueRunner(t, cs)
	ctx := context.Background()
	create := func(name, class string) {
		t.Helper()
		_, err := cs.CoreV1().Pods("default").Create(ctx, livePod(name, "3", func(p *corev1.Pod) { p.Spec.PriorityClassName = class }), metav1.CreateOptions{})
		require.NoError(t, err)
	}

	create("low", "low")
	waitWithin(t, atOnce, "low bound", func() bool { return boundTo(t, cs, "low") == "n1" })
	low, _ := getPod(t, cs, "low")
	require.Equal(t, int32(100), *low.Spec.Priority, "admission resolved the class")

	// preemptionPolicy Never: unschedulable, and nothing is evicted.
	create("polite", "high-never")
	polite, _ := getPod(t, cs, "polite")
	require.Equal(t, int32(1000), *polite.Spec.Priority)
	require.Equal(t, corev1.PreemptNever, *polite.Spec.PreemptionPolicy)
	waitWithin(t, atOnce, "polite found unschedulable", func() bool {
		_, _, u := r.Scheduler().Queue.Len()
		return attempts("polite") == 1 && u == 1
	})
	low, ok := getPod(t, cs, "low")
	require.True(t, ok)
	require.Nil(t, low.DeletionTimestamp, "a Never pod must not preempt")
	polite, _ = getPod(t, cs, "polite")
	require.Empty(t, polite.Status.NominatedNodeName)

	// A high pod preempts low, is nominated to n1 and bound there.
	create("high", "high")
	waitWithin(t, atOnce, "high bound to n1", func() bool { return boundTo(t, cs, "high") == "n1" })
	_, lowLeft := getPod(t, cs, "low")
	require.False(t, lowLeft, "the victim is deleted")
	high, _ := getPod(t, cs, "high")
	require.Equal(t, "n1", high.Status.NominatedNodeName)
	waitWithin(t, atOnce, "Preempted event for low", func() bool {
		evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Preempted"})
		return err == nil && len(evs.Items) == 1 && evs.Items[0].InvolvedObject.Name == "low"
	})
	// polite did not take the room preemption made for high (it sees high
	// nominated there), and is still pending.
	polite, _ = getPod(t, cs, "polite")
	require.Empty(t, polite.Spec.NodeName)
	// high: one attempt that preempted, one after the victim went (the
	// clock does not move: the deletion, not a back-off, retried it).
	waitWithin(t, atOnce, "high's second attempt reported", func() bool { return attempts("high") >= 2 })
	require.Equal(t, 2, attempts("high"))
}
