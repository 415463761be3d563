package daemonset_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/daemonset"
)

const wait = 30 * time.Second

// readyKubelet binds and readies daemon pods as they appear.
func readyKubelet(ctx context.Context, cs kubernetes.Interface) {
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type != watch.Added || controller.PodReady(p) {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		_, _ = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
}

func nodeOfPod(p *corev1.Pod) string {
	return p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values[0]
}

func TestDaemonSet(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs})
	require.NoError(t, err)
	require.NoError(t, daemonset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	go readyKubelet(ctx, cs)
	defer func() { cancel(); require.NoError(t, <-done) }()

	mkNode := func(name string, lbl map[string]string, taints ...corev1.Taint) {
		_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}, Spec: corev1.NodeSpec{Taints: taints}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	mkNode("n1", map[string]string{"disk": "ssd"})
	mkNode("n2", map[string]string{"disk": "ssd"}, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute})  // tolerated by daemons
	mkNode("n3", map[string]string{"disk": "hdd"})                                                                                    // not selected
	mkNode("n4", map[string]string{"disk": "ssd"}, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}) // not tolerated

	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"disk": "ssd"},
					Containers: []corev1.Container{{Name: "c", Image: "v1"}}},
			},
		},
	}
	_, err = cs.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{})
	require.NoError(t, err)
	pods := func() map[string]corev1.Pod {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
		require.NoError(t, err)
		out := map[string]corev1.Pod{}
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				out[nodeOfPod(&p)+"/"+p.Name] = p
			}
		}
		return out
	}
	nodesWithPods := func(image string) string {
		ns := map[string]int{}
		for _, p := range pods() {
			if image == "" || p.Spec.Containers[0].Image == image {
				ns[nodeOfPod(&p)]++
			}
		}
		return fmt.Sprint(ns)
	}
	controllertest.Eventually(t, wait, "one pod on n1 and n2", func() (bool, error) {
		d, err := cs.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && nodesWithPods("") == "map[n1:1 n2:1]" && d.Status.DesiredNumberScheduled == 2 && d.Status.NumberReady == 2, err
	})

	mkNode("n5", map[string]string{"disk": "ssd"})
	controllertest.Eventually(t, wait, "new node gets a pod", func() (bool, error) { return nodesWithPods("") == "map[n1:1 n2:1 n5:1]", nil })
	require.NoError(t, cs.CoreV1().Nodes().Delete(ctx, "n5", metav1.DeleteOptions{}))
	controllertest.Eventually(t, wait, "deleted node loses it", func() (bool, error) {
		d, err := cs.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && nodesWithPods("") == "map[n1:1 n2:1]" && d.Status.NumberReady == 2 && d.Status.DesiredNumberScheduled == 2, err
	})

	// Rolling update, maxUnavailable 1: at every observed moment at least
	// one of the two pods is ready.
	pl, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	require.NoError(t, err)
	state := map[string]bool{} // live pod -> ready
	for _, p := range pl.Items {
		if p.DeletionTimestamp == nil {
			state[p.Name] = controller.PodReady(&p)
		}
	}
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=agent", ResourceVersion: pl.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	_, err = cs.AppsV1().DaemonSets("default").Patch(ctx, "agent", types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"v2"}]}}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "rolled to v2", func() (bool, error) {
		d, err := cs.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && nodesWithPods("v2") == "map[n1:1 n2:1]" && nodesWithPods("") == "map[n1:1 n2:1]" &&
			d.Status.UpdatedNumberScheduled == 2 && d.Status.NumberAvailable == 2, err
	})
	events := 0
	for drained := false; !drained; {
		select {
		case ev := <-w.ResultChan():
			p := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				delete(state, p.Name)
			} else {
				state[p.Name] = controller.PodReady(p)
			}
			ready := 0
			for _, r := range state {
				if r {
					ready++
				}
			}
			events++
			require.GreaterOrEqual(t, ready, 1, "maxUnavailable 1 of 2 at event %d (%s %s node %s image %s): %v", events, ev.Type, p.Name, nodeOfPod(p), p.Spec.Containers[0].Image, state)
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}
	require.Greater(t, events, 4)
}

// TestDaemonSetTaintedNode: as in Kubernetes, a NoSchedule taint the daemon
// does not tolerate keeps new pods off the node but leaves the running one
// (counted misscheduled); a NoExecute taint evicts it.
func TestDaemonSetTaintedNode(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs})
	require.NoError(t, err)
	require.NoError(t, daemonset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	go readyKubelet(ctx, cs)
	defer func() { cancel(); require.NoError(t, <-done) }()

	_, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	labels := map[string]string{"app": "agent"}
	_, err = cs.AppsV1().DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	livePods := func() []string {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
		require.NoError(t, err)
		var names []string
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
			}
		}
		return names
	}
	status := func() appsv1.DaemonSetStatus {
		d, err := cs.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
		require.NoError(t, err)
		return d.Status
	}
	controllertest.Eventually(t, wait, "a ready pod on n1", func() (bool, error) {
		return len(livePods()) == 1 && status().NumberReady == 1, nil
	})
	running := livePods()

	taint := func(effect corev1.TaintEffect) {
		_, err := cs.CoreV1().Nodes().Patch(ctx, "n1", types.MergePatchType,
			fmt.Appendf(nil, `{"spec":{"taints":[{"key":"dedicated","value":"db","effect":%q}]}}`, effect), metav1.PatchOptions{})
		require.NoError(t, err)
	}
	taint(corev1.TaintEffectNoSchedule)
	controllertest.Eventually(t, wait, "the NoSchedule taint is seen", func() (bool, error) {
		return status().DesiredNumberScheduled == 0, nil
	})
	require.Equal(t, running, livePods(), "a NoSchedule taint must not delete the running daemon pod")
	require.Equal(t, int32(1), status().NumberMisscheduled)

	taint(corev1.TaintEffectNoExecute)
	controllertest.Eventually(t, wait, "the NoExecute taint evicts the pod", func() (bool, error) {
		return len(livePods()) == 0, nil
	})
}

// denier is an admission plugin that forbids creating or deleting pods
// while told to.
type denier struct{ create, delete atomic.Bool }

func (d *denier) Validate(_ context.Context, req *apiserver.AdmissionRequest) error {
	if req.Resource.Resource != "pods" || req.Subresource != "" {
		return nil
	}
	if (req.Operation == apiserver.Create && d.create.Load()) || (req.Operation == apiserver.Delete && d.delete.Load()) {
		return errors.New("denied by the test")
	}
	return nil
}

// countEvents adds up the counts of the Events about the DaemonSet ds
// (listed through the API by involvedObject, as kubectl describe does)
// whose "type reason message" starts with prefix.
func countEvents(t *testing.T, cs kubernetes.Interface, ds *appsv1.DaemonSet, prefix string) int {
	t.Helper()
	l, err := cs.CoreV1().Events(ds.Namespace).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=" + ds.Name,
	})
	require.NoError(t, err)
	n := 0
	for _, e := range l.Items {
		if strings.HasPrefix(e.Type+" "+e.Reason+" "+e.Message, prefix) {
			require.Equal(t, ds.UID, e.InvolvedObject.UID)
			require.Equal(t, "daemonset-controller", e.Source.Component)
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// TestEvents: the DaemonSet's pod creations and deletions, and their
// failures, are Events about it.
func TestEvents(t *testing.T) {
	d := &denier{}
	s := controllertest.Start(t, apiserver.Options{Admission: []any{d}})
	cs := s.Client
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs})
	require.NoError(t, err)
	require.NoError(t, daemonset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	mkNode := func(name string) {
		_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	mkNode("n1")
	mkNode("n2")
	ds, err := cs.AppsV1().DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ev"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ev"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "ev"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor := func(prefix string, atLeast int) {
		t.Helper()
		controllertest.Eventually(t, wait, fmt.Sprintf("%d %q events", atLeast, prefix), func() (bool, error) {
			return countEvents(t, cs, ds, prefix) >= atLeast, nil
		})
	}
	waitFor("Normal SuccessfulCreate Created pod: ev-", 2)

	// A pod that cannot be made: FailedCreate until it can.
	d.create.Store(true)
	mkNode("n3")
	waitFor("Warning FailedCreate Error creating: ", 1)
	d.create.Store(false)
	waitFor("Normal SuccessfulCreate Created pod: ev-", 3)

	// The node goes: its pod is deleted, after a failure.
	d.delete.Store(true)
	require.NoError(t, cs.CoreV1().Nodes().Delete(ctx, "n2", metav1.DeleteOptions{}))
	waitFor("Warning FailedDelete Error deleting: ", 1)
	d.delete.Store(false)
	waitFor("Normal SuccessfulDelete Deleted pod: ev-", 1)
	require.Equal(t, 3, countEvents(t, cs, ds, "Normal SuccessfulCreate"), "no pod made twice")
}
