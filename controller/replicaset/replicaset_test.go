package replicaset_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/replicaset"
)

const wait = 20 * time.Second

func start(t *testing.T) (*controllertest.Server, *clocktesting.FakeClock) {
	t.Helper()
	s := controllertest.Start(t, apiserver.Options{})
	clk := clocktesting.NewFakeClock(time.Now())
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, replicaset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return s, clk
}

func template(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: template(name),
		},
	}
}

func pods(t *testing.T, cs kubernetes.Interface, app string) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	require.NoError(t, err)
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func markReady(t *testing.T, cs kubernetes.Interface, p *corev1.Pod, at time.Time) {
	t.Helper()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = "10.0.0.1"
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	_, err := cs.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func TestReplicaSetLifecycle(t *testing.T) {
	s, clk := start(t)
	ctx := context.Background()
	cs := s.Client
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	defer w.Stop()

	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 10
	rs, err = cs.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
	require.NoError(t, err)

	controllertest.Eventually(t, wait, "3 pods and status", func() (bool, error) {
		got, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && len(pods(t, cs, "web")) == 3 && got.Status.Replicas == 3 && got.Status.ObservedGeneration == got.Generation, err
	})
	for _, p := range pods(t, cs, "web") {
		ref := metav1.GetControllerOf(&p)
		require.NotNil(t, ref, p.Name)
		require.Equal(t, rs.UID, ref.UID)
		require.Equal(t, "ReplicaSet", ref.Kind)
		require.True(t, *ref.BlockOwnerDeletion)
	}

	t.Run("ready and available after minReadySeconds", func(t *testing.T) {
		for _, p := range pods(t, cs, "web") {
			markReady(t, cs, &p, clk.Now())
		}
		controllertest.Eventually(t, wait, "ready 3 available 0", func() (bool, error) {
			got, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && got.Status.ReadyReplicas == 3 && got.Status.AvailableReplicas == 0, err
		})
		clk.Step(11 * time.Second)
		controllertest.Eventually(t, wait, "available 3", func() (bool, error) {
			got, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && got.Status.AvailableReplicas == 3, err
		})
	})

	t.Run("deleted pod is replaced", func(t *testing.T) {
		victim := pods(t, cs, "web")[0]
		require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, victim.Name, metav1.DeleteOptions{}))
		controllertest.Eventually(t, wait, "replacement", func() (bool, error) {
			ps := pods(t, cs, "web")
			for _, p := range ps {
				if p.Name == victim.Name {
					return false, nil
				}
			}
			return len(ps) == 3, nil
		})
	})

	t.Run("adopt orphan, release relabelled", func(t *testing.T) {
		orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Labels: map[string]string{"app": "web"}}, Spec: template("web").Spec}
		_, err := cs.CoreV1().Pods("default").Create(ctx, orphan, metav1.CreateOptions{})
		require.NoError(t, err)
		controllertest.Eventually(t, wait, "orphan adopted, one pod deleted", func() (bool, error) {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "orphan", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			ref := metav1.GetControllerOf(p)
			return ref != nil && ref.UID == rs.UID && len(pods(t, cs, "web")) == 3, nil
		})
		owned := pods(t, cs, "web")[0]
		owned.Labels = map[string]string{"app": "other"}
		_, err = cs.CoreV1().Pods("default").Update(ctx, &owned, metav1.UpdateOptions{})
		require.NoError(t, err)
		controllertest.Eventually(t, wait, "released and replaced", func() (bool, error) {
			p, err := cs.CoreV1().Pods("default").Get(ctx, owned.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return metav1.GetControllerOf(p) == nil && len(pods(t, cs, "web")) == 3, nil
		})
	})

	t.Run("scale down and up", func(t *testing.T) {
		for _, n := range []int32{1, 5, 0} {
			// The controller writes status meanwhile: a scale read before
			// that is stale (409), as on Kubernetes; read it again.
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				sc, err := cs.AppsV1().ReplicaSets("default").GetScale(ctx, "web", metav1.GetOptions{})
				if err != nil {
					return err
				}
				sc.Spec.Replicas = n
				_, err = cs.AppsV1().ReplicaSets("default").UpdateScale(ctx, "web", sc, metav1.UpdateOptions{})
				return err
			})
			require.NoError(t, err)
			controllertest.Eventually(t, wait, fmt.Sprintf("scaled to %d", n), func() (bool, error) {
				got, err := cs.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
				return err == nil && len(pods(t, cs, "web")) == int(n) && got.Status.Replicas == n, err
			})
		}
	})

	// Expectations: never more pods than replicas at any moment.
	live, max := map[string]bool{}, 0
	for {
		select {
		case ev := <-w.ResultChan():
			p := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				delete(live, p.Name)
			} else if metav1.GetControllerOf(p) != nil {
				live[p.Name] = true
			}
			max = maxInt(max, len(live))
			continue
		default:
		}
		break
	}
	require.LessOrEqual(t, max, 5, "never more owned pods than the largest replicas")
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func TestReplicationController(t *testing.T) {
	s, _ := start(t)
	ctx := context.Background()
	cs := s.Client
	tmpl := template("rc")
	rc, err := cs.CoreV1().ReplicationControllers("default").Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc"},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](2), Selector: map[string]string{"app": "rc"}, Template: &tmpl},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "2 pods", func() (bool, error) {
		got, err := cs.CoreV1().ReplicationControllers("default").Get(ctx, "rc", metav1.GetOptions{})
		return err == nil && len(pods(t, cs, "rc")) == 2 && got.Status.Replicas == 2, err
	})
	for _, p := range pods(t, cs, "rc") {
		ref := metav1.GetControllerOf(&p)
		require.Equal(t, rc.UID, ref.UID)
		require.Equal(t, "v1", ref.APIVersion)
		require.Equal(t, "ReplicationController", ref.Kind)
	}
	p := pods(t, cs, "rc")[0]
	markReady(t, cs, &p, time.Now())
	controllertest.Eventually(t, wait, "ready 1", func() (bool, error) {
		got, err := cs.CoreV1().ReplicationControllers("default").Get(ctx, "rc", metav1.GetOptions{})
		return err == nil && got.Status.ReadyReplicas == 1 && got.Status.AvailableReplicas == 1, err
	})
}

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		count, failAt, wantOK, wantCalls int
	}{
		{count: 0, failAt: -1, wantOK: 0, wantCalls: 0},
		{count: 10, failAt: -1, wantOK: 10, wantCalls: 10},
		{count: 10, failAt: 0, wantOK: 0, wantCalls: 1}, // first batch of 1 fails
		{count: 10, failAt: 1, wantOK: 1, wantCalls: 3}, // batch 2 fails: 1 + 2 calls
		{count: 10, failAt: 3, wantOK: 3, wantCalls: 7}, // batches 1,2,4: the third batch fails
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.count, "/", tt.failAt), func(t *testing.T) {
			calls := make(chan struct{}, 100)
			ok, err := replicaset.SlowStartBatch(tt.count, 1, func() error {
				calls <- struct{}{}
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, tt.count, ok)
			for len(calls) > 0 {
				<-calls
			}
			// Failing variant: fail every call from the failAt-th on.
			if tt.failAt < 0 {
				return
			}
			var seq = make(chan int, 100)
			for i := range 100 {
				seq <- i
			}
			ok, err = replicaset.SlowStartBatch(tt.count, 1, func() error {
				if <-seq >= tt.failAt {
					return errors.New("quota")
				}
				return nil
			})
			require.Error(t, err)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.wantCalls, 100-len(seq))
		})
	}
}

func TestPodsToDelete(t *testing.T) {
	now := time.Now()
	mk := func(name, node string, phase corev1.PodPhase, ready bool, age time.Duration) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		return p
	}
	ps := []*corev1.Pod{
		mk("running-ready-old", "n", corev1.PodRunning, true, time.Hour),
		mk("running-ready-new", "n", corev1.PodRunning, true, time.Minute),
		mk("unscheduled", "", corev1.PodPending, false, time.Hour),
		mk("pending", "n", corev1.PodPending, false, time.Hour),
		mk("running-notready", "n", corev1.PodRunning, false, time.Hour),
	}
	var names []string
	for _, p := range replicaset.PodsToDelete(ps, 5) {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{"unscheduled", "pending", "running-notready", "running-ready-new", "running-ready-old"}, names)
	require.Len(t, replicaset.PodsToDelete(ps, 2), 2)
}

func ExampleNewReplicaSet() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	f := informers.NewSharedInformerFactory(s.Client, 0)
	c, err := replicaset.NewReplicaSet(replicaset.Options{
		Client: s.Client, Pods: f.Core().V1().Pods(), ReplicaSets: f.Apps().V1().ReplicaSets(),
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx.Done())
	go func() { _ = c.Start(ctx) }()
	_, _ = s.Client.AppsV1().ReplicaSets("default").Create(ctx, newRS("demo", 2), metav1.CreateOptions{})
	for {
		l, _ := s.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=demo"})
		if len(l.Items) == 2 {
			break
		}
		<-time.After(10 * time.Millisecond)
	}
	cancel()
	fmt.Println("pods created: 2")
	// Output: pods created: 2
}

// events lists the Events about the object kind/name in default.
func events(t *testing.T, cs kubernetes.Interface, kind, name string) []corev1.Event {
	t.Helper()
	l, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name,
	})
	require.NoError(t, err)
	return l.Items
}

// TestEvents: the pods a ReplicaSet creates and deletes are Events about
// it (what kubectl describe shows).
func TestEvents(t *testing.T) {
	s, _ := start(t)
	ctx := context.Background()
	rs, err := s.Client.AppsV1().ReplicaSets("default").Create(ctx, newRS("ev", 2), metav1.CreateOptions{})
	require.NoError(t, err)
	count := func(reason string) func() (bool, error) {
		return func() (bool, error) {
			n := 0
			for _, e := range events(t, s.Client, "ReplicaSet", "ev") {
				if e.Reason == reason {
					require.Equal(t, rs.UID, e.InvolvedObject.UID)
					require.Equal(t, "replicaset-controller", e.Source.Component)
					n += int(max(e.Count, 1))
				}
			}
			return n == 2, nil
		}
	}
	controllertest.Eventually(t, wait, "two SuccessfulCreate events", count("SuccessfulCreate"))
	_, err = s.Client.AppsV1().ReplicaSets("default").Patch(ctx, "ev", types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "two SuccessfulDelete events", count("SuccessfulDelete"))

}
