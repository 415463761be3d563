package deployment_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/deployment"
	"github.com/gantryhq/gantry/controller/replicaset"
)

const wait = 30 * time.Second

type env struct {
	s   *controllertest.Server
	cs  kubernetes.Interface
	clk *clocktesting.FakeClock
}

func start(t *testing.T, kubelet bool) *env {
	t.Helper()
	s := controllertest.Start(t, apiserver.Options{})
	clk := clocktesting.NewFakeClock(time.Now())
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, replicaset.Register(m))
	require.NoError(t, deployment.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	if kubelet {
		go FakeKubelet(ctx, s.Client, "default")
	}
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return &env{s: s, cs: s.Client, clk: clk}
}

// FakeKubelet marks every new pod of ns Running and Ready, standing in for
// a node agent.
func FakeKubelet(ctx context.Context, cs kubernetes.Interface, ns string) {
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
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
		p.Status.PodIP = "10.1.0.1"
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		_, _ = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

// rolledOut is kubectl rollout status's success test.
func rolledOut(d *appsv1.Deployment) bool {
	if d.Generation > d.Status.ObservedGeneration {
		return false
	}
	r := ptr.Deref(d.Spec.Replicas, 1)
	return d.Status.UpdatedReplicas == r && d.Status.Replicas == r && d.Status.AvailableReplicas == r
}

func (e *env) waitRolledOut(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	controllertest.Eventually(t, wait, "deployment "+name+" rolled out", func() (bool, error) {
		var err error
		d, err = e.cs.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && rolledOut(d), err
	})
	return d
}

func (e *env) setImage(t *testing.T, name, image string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
	_, err := e.cs.AppsV1().Deployments("default").Patch(context.Background(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
}

func (e *env) replicaSets(t *testing.T, app string) []appsv1.ReplicaSet {
	t.Helper()
	l, err := e.cs.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	require.NoError(t, err)
	return l.Items
}

func TestRollingUpdateRespectsSurgeAndUnavailableAtEveryMoment(t *testing.T) {
	tests := []struct {
		name              string
		replicas          int32
		surge, unavailble intstr.IntOrString
		maxPods, minReady int
	}{
		{"surge1-unavail0", 5, intstr.FromInt32(1), intstr.FromInt32(0), 6, 5},
		{"surge0-unavail1", 5, intstr.FromInt32(0), intstr.FromInt32(1), 5, 4},
		{"surge25%-unavail25%", 8, intstr.FromString("25%"), intstr.FromString("25%"), 10, 6},
		{"surge3-unavail2", 6, intstr.FromInt32(3), intstr.FromInt32(2), 9, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, true)
			ctx := context.Background()
			d := newDeployment("web", tt.replicas, "v1")
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &tt.surge, MaxUnavailable: &tt.unavailble}}
			_, err := e.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
			require.NoError(t, err)
			e.waitRolledOut(t, "web")

			pl, err := e.cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			live := map[string]*corev1.Pod{}
			for i := range pl.Items {
				live[pl.Items[i].Name] = &pl.Items[i]
			}
			w, err := e.cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: pl.ResourceVersion})
			require.NoError(t, err)
			defer w.Stop()

			e.setImage(t, "web", "v2")
			states := 0
			deadline := time.After(wait)
			for {
				done := len(live) == int(tt.replicas)
				for _, p := range live {
					done = done && p.Spec.Containers[0].Image == "v2" && controller.PodReady(p)
				}
				if done {
					break
				}
				select {
				case ev, ok := <-w.ResultChan():
					require.True(t, ok, "watch ended")
					p := ev.Object.(*corev1.Pod)
					if ev.Type == watch.Deleted {
						delete(live, p.Name)
					} else {
						live[p.Name] = p
					}
					ready := 0
					for _, p := range live {
						if controller.PodReady(p) && p.DeletionTimestamp == nil {
							ready++
						}
					}
					states++
					if len(live) > tt.maxPods || ready < tt.minReady {
						t.Fatalf("state %d (resourceVersion %s): %d pods (max %d), %d ready (min %d)\n%s",
							states, p.ResourceVersion, len(live), tt.maxPods, ready, tt.minReady, e.describe(t, live))
					}
				case <-deadline:
					t.Fatalf("rollout did not finish; %d pods live", len(live))
				}
			}
			require.Greater(t, states, int(tt.replicas))
			d2 := e.waitRolledOut(t, "web")
			require.Equal(t, "2", d2.Annotations[deployment.RevisionAnnotation])
			rss := e.replicaSets(t, "web")
			require.Len(t, rss, 2)
			for _, rs := range rss {
				require.True(t, *metav1.GetControllerOf(&rs).Controller)
				require.NotEmpty(t, rs.Labels[deployment.HashLabel])
				require.Equal(t, rs.Labels[deployment.HashLabel], rs.Spec.Template.Labels[deployment.HashLabel])
				if rs.Spec.Template.Spec.Containers[0].Image == "v1" {
					require.EqualValues(t, 0, *rs.Spec.Replicas)
				}
			}
			c := progressing(d2)
			require.Equal(t, deployment.ReasonNewRSAvailable, c.Reason)
		})
	}
}

// describe explains a state that broke the rollout's limits: the live pods
// by owner, and the ReplicaSets' spec and status as the API has them now.
func (e *env) describe(t *testing.T, live map[string]*corev1.Pod) string {
	t.Helper()
	var b strings.Builder
	byOwner := map[string][]string{}
	for _, p := range live {
		owner := "<none>"
		if ref := metav1.GetControllerOf(p); ref != nil {
			owner = ref.Name
		}
		byOwner[owner] = append(byOwner[owner], fmt.Sprintf("%s(rv %s, ready %v)", p.Name, p.ResourceVersion, controller.PodReady(p)))
	}
	for owner, pods := range byOwner {
		fmt.Fprintf(&b, "pods of %s: %v\n", owner, pods)
	}
	l, err := e.cs.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return b.String() + err.Error()
	}
	for _, rs := range l.Items {
		fmt.Fprintf(&b, "replicaset %s: spec %d, status %+v, generation %d\n", rs.Name, ptr.Deref(rs.Spec.Replicas, 0), rs.Status, rs.Generation)
	}
	return b.String()
}

func progressing(d *appsv1.Deployment) appsv1.DeploymentCondition {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			return c
		}
	}
	return appsv1.DeploymentCondition{}
}

func TestRecreateNeverMixesVersions(t *testing.T) {
	e := start(t, true)
	ctx := context.Background()
	d := newDeployment("rec", 3, "v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	_, err := e.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	e.waitRolledOut(t, "rec")
	pl, err := e.cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	live := map[string]string{}
	for _, p := range pl.Items {
		live[p.Name] = p.Spec.Containers[0].Image
	}
	w, err := e.cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: pl.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	e.setImage(t, "rec", "v2")
	deadline := time.After(wait)
	for {
		v2 := 0
		for _, img := range live {
			if img == "v2" {
				v2++
			}
		}
		if v2 == 3 && len(live) == 3 {
			break
		}
		select {
		case ev := <-w.ResultChan():
			p := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Deleted {
				delete(live, p.Name)
			} else {
				live[p.Name] = p.Spec.Containers[0].Image
			}
			imgs := map[string]bool{}
			for _, img := range live {
				imgs[img] = true
			}
			require.LessOrEqual(t, len(imgs), 1, "old and new pods at once: %v", live)
		case <-deadline:
			t.Fatal("recreate did not finish")
		}
	}
	e.waitRolledOut(t, "rec")
}

func TestRollbackPauseHistoryLimit(t *testing.T) {
	e := start(t, true)
	ctx := context.Background()
	d := newDeployment("app", 2, "v1")
	d.Spec.RevisionHistoryLimit = ptr.To[int32](2)
	_, err := e.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	e.waitRolledOut(t, "app")
	e.setImage(t, "app", "v2")
	e.waitRolledOut(t, "app")

	t.Run("rollback reuses the old ReplicaSet with the next revision", func(t *testing.T) {
		var v1 appsv1.ReplicaSet
		for _, rs := range e.replicaSets(t, "app") {
			if rs.Spec.Template.Spec.Containers[0].Image == "v1" {
				v1 = rs
			}
		}
		require.Equal(t, "1", v1.Annotations[deployment.RevisionAnnotation])
		e.setImage(t, "app", "v1") // what kubectl rollout undo amounts to
		d := e.waitRolledOut(t, "app")
		require.Equal(t, "3", d.Annotations[deployment.RevisionAnnotation])
		got, err := e.cs.AppsV1().ReplicaSets("default").Get(ctx, v1.Name, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, "3", got.Annotations[deployment.RevisionAnnotation])
		require.EqualValues(t, 2, *got.Spec.Replicas)
		require.Len(t, e.replicaSets(t, "app"), 2)
	})

	t.Run("paused does not roll, resume does", func(t *testing.T) {
		_, err := e.cs.AppsV1().Deployments("default").Patch(ctx, "app", types.MergePatchType, []byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		e.setImage(t, "app", "v3")
		controllertest.Eventually(t, wait, "paused condition", func() (bool, error) {
			d, err := e.cs.AppsV1().Deployments("default").Get(ctx, "app", metav1.GetOptions{})
			return err == nil && d.Status.ObservedGeneration == d.Generation && progressing(d).Reason == deployment.ReasonPaused, err
		})
		for _, rs := range e.replicaSets(t, "app") {
			require.NotEqual(t, "v3", rs.Spec.Template.Spec.Containers[0].Image)
		}
		// Scaling while paused resizes the current ReplicaSet.
		_, err = e.cs.AppsV1().Deployments("default").Patch(ctx, "app", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		controllertest.Eventually(t, wait, "scaled while paused", func() (bool, error) {
			d, err := e.cs.AppsV1().Deployments("default").Get(ctx, "app", metav1.GetOptions{})
			return err == nil && d.Status.Replicas == 3 && d.Status.AvailableReplicas == 3, err
		})
		_, err = e.cs.AppsV1().Deployments("default").Patch(ctx, "app", types.MergePatchType, []byte(`{"spec":{"paused":false}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		d := e.waitRolledOut(t, "app")
		require.Equal(t, "4", d.Annotations[deployment.RevisionAnnotation])
	})

	t.Run("revisionHistoryLimit", func(t *testing.T) {
		e.setImage(t, "app", "v4")
		e.waitRolledOut(t, "app")
		controllertest.Eventually(t, wait, "old replicasets cleaned up", func() (bool, error) {
			return len(e.replicaSets(t, "app")) == 3, nil // new + 2 old
		})
	})
}

func TestProgressDeadline(t *testing.T) {
	e := start(t, false) // no kubelet: pods never become ready
	ctx := context.Background()
	d := newDeployment("slow", 2, "v1")
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	_, err := e.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "progressing", func() (bool, error) {
		d, err := e.cs.AppsV1().Deployments("default").Get(ctx, "slow", metav1.GetOptions{})
		return err == nil && d.Status.Replicas == 2 && progressing(d).Status == corev1.ConditionTrue, err
	})
	e.clk.Step(30 * time.Second)
	d, err = e.cs.AppsV1().Deployments("default").Get(ctx, "slow", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.ConditionTrue, progressing(d).Status)
	e.clk.Step(31 * time.Second)
	controllertest.Eventually(t, wait, "deadline exceeded", func() (bool, error) {
		d, err := e.cs.AppsV1().Deployments("default").Get(ctx, "slow", metav1.GetOptions{})
		return err == nil && progressing(d).Reason == deployment.ReasonDeadlineExceeded && progressing(d).Status == corev1.ConditionFalse, err
	})
}

// TestKubectlRollout drives the controller with the real kubectl: rollout
// status, history, undo and restart.
func TestKubectlRollout(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH")
	}
	e := start(t, true)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--server", e.s.URL, "-n", "default"}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "kubectl %v: %s", args, out)
		return string(out)
	}
	ctx := context.Background()
	_, err = e.cs.AppsV1().Deployments("default").Create(ctx, newDeployment("k", 2, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Contains(t, run("rollout", "status", "deployment/k", "--timeout=30s"), "successfully rolled out")
	run("set", "image", "deployment/k", "c=v2")
	require.Contains(t, run("rollout", "status", "deployment/k", "--timeout=30s"), "successfully rolled out")
	hist := run("rollout", "history", "deployment/k")
	require.Contains(t, hist, "1 ")
	require.Contains(t, hist, "2 ")
	run("rollout", "undo", "deployment/k")
	require.Contains(t, run("rollout", "status", "deployment/k", "--timeout=30s"), "successfully rolled out")
	d, err := e.cs.AppsV1().Deployments("default").Get(ctx, "k", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "v1", d.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, "3", d.Annotations[deployment.RevisionAnnotation])
	run("rollout", "restart", "deployment/k")
	require.Contains(t, run("rollout", "status", "deployment/k", "--timeout=30s"), "successfully rolled out")
	d, err = e.cs.AppsV1().Deployments("default").Get(ctx, "k", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "4", d.Annotations[deployment.RevisionAnnotation])
	require.True(t, strings.Contains(run("rollout", "history", "deployment/k"), "4 "))
}

// TestScalingEvents: every scale of a ReplicaSet is a ScalingReplicaSet
// Event about the Deployment, as kubectl describe shows it.
func TestScalingEvents(t *testing.T) {
	e := start(t, true)
	ctx := context.Background()
	d := newDeployment("ev", 2, "v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	_, err := e.cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	e.waitRolledOut(t, "ev")
	e.setImage(t, "ev", "v2")
	e.waitRolledOut(t, "ev")
	rss := e.replicaSets(t, "ev")
	require.Len(t, rss, 2)
	want := map[string]bool{}
	for _, rs := range rss {
		if rs.Spec.Template.Spec.Containers[0].Image == "v1" {
			want["Scaled up replica set "+rs.Name+" from 0 to 2"] = true
			want["Scaled down replica set "+rs.Name+" from 2 to 0"] = true
		} else {
			want["Scaled up replica set "+rs.Name+" from 0 to 2"] = true
		}
	}
	controllertest.Eventually(t, wait, "ScalingReplicaSet events", func() (bool, error) {
		l, err := e.cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Deployment,involvedObject.name=ev"})
		if err != nil {
			return false, err
		}
		got := map[string]bool{}
		for _, ev := range l.Items {
			if ev.Reason == "ScalingReplicaSet" && ev.Source.Component == "deployment-controller" {
				got[ev.Message] = true
			}
		}
		return len(got) == len(want) && func() bool {
			for m := range want {
				if !got[m] {
					return false
				}
			}
			return true
		}(), nil
	})
}
