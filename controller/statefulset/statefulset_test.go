package statefulset_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/statefulset"
)

const wait = 30 * time.Second

func markReady(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	_, err = cs.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func names(t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	l, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=db"})
	require.NoError(t, err)
	var out []string
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

func TestStatefulSet(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs})
	require.NoError(t, err)
	require.NoError(t, statefulset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	_, err = cs.AppsV1().StatefulSets("default").Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](3), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// Ordered: db-(n+1) only after db-n is Ready.
	for n := range 3 {
		want := fmt.Sprint(func() []string {
			var w []string
			for i := 0; i <= n; i++ {
				w = append(w, fmt.Sprintf("db-%d", i))
			}
			return w
		}())
		controllertest.Eventually(t, wait, want, func() (bool, error) { return fmt.Sprint(names(t, cs)) == want, nil })
		set, err := cs.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
		require.NoError(t, err)
		require.LessOrEqual(t, set.Status.Replicas, int32(n+1))
		markReady(t, cs, fmt.Sprintf("db-%d", n))
	}
	p, err := cs.CoreV1().Pods("default").Get(ctx, "db-1", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "db-1", p.Spec.Hostname)
	require.Equal(t, "db", p.Spec.Subdomain)
	controllertest.Eventually(t, wait, "ready 3", func() (bool, error) {
		set, err := cs.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
		return err == nil && set.Status.ReadyReplicas == 3 && set.Status.UpdatedReplicas == 3, err
	})

	// Rolling update replaces db-2, then db-1, then db-0.
	pl, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
	require.NoError(t, err)
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=db", ResourceVersion: pl.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	_, err = cs.AppsV1().StatefulSets("default").Patch(ctx, "db", types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"v2"}]}}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	var deleted []string
	added := 0
	for len(deleted) < 3 || added < 3 {
		select {
		case ev := <-w.ResultChan():
			p := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Deleted:
				deleted = append(deleted, p.Name)
			case ev.Type == watch.Added:
				require.Equal(t, "v2", p.Spec.Containers[0].Image)
				markReady(t, cs, p.Name)
				added++
			}
		case <-time.After(wait):
			t.Fatalf("rolling update stuck after deleting %v", deleted)
		}
	}
	require.Equal(t, []string{"db-2", "db-1", "db-0"}, deleted)

	// Scale down from the top.
	_, err = cs.AppsV1().StatefulSets("default").Patch(ctx, "db", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "scaled to db-0", func() (bool, error) { return fmt.Sprint(names(t, cs)) == "[db-0]", nil })
}

// denier is an admission plugin that forbids creating pods while told to.
type denier struct{ create atomic.Bool }

func (d *denier) Validate(_ context.Context, req *apiserver.AdmissionRequest) error {
	if req.Resource.Resource == "pods" && req.Subresource == "" && req.Operation == apiserver.Create && d.create.Load() {
		return errors.New("denied by the test")
	}
	return nil
}

// events lists "type reason message" of the Events about the StatefulSet
// (listed through the API by involvedObject, as kubectl describe does),
// each as many times as it happened.
func events(t *testing.T, cs kubernetes.Interface, set *appsv1.StatefulSet) []string {
	t.Helper()
	l, err := cs.CoreV1().Events(set.Namespace).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=StatefulSet,involvedObject.name=" + set.Name,
	})
	require.NoError(t, err)
	var out []string
	for _, e := range l.Items {
		require.Equal(t, set.UID, e.InvolvedObject.UID)
		require.Equal(t, "statefulset-controller", e.Source.Component)
		for range max(e.Count, 1) {
			out = append(out, e.Type+" "+e.Reason+" "+e.Message)
		}
	}
	return out
}

// TestEvents: the set's pod creations and deletions are Events about it,
// worded as Kubernetes words them.
func TestEvents(t *testing.T) {
	d := &denier{}
	s := controllertest.Start(t, apiserver.Options{Admission: []any{d}})
	cs := s.Client
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs})
	require.NoError(t, err)
	require.NoError(t, statefulset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	d.create.Store(true)
	set, err := cs.AppsV1().StatefulSets("default").Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2), ServiceName: "web",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	has := func(want string, n int) func() (bool, error) {
		return func() (bool, error) {
			got := 0
			for _, e := range events(t, cs, set) {
				if strings.HasPrefix(e, want) {
					got++
				}
			}
			return got >= n, nil
		}
	}
	controllertest.Eventually(t, wait, "FailedCreate", has("Warning FailedCreate create Pod web-0 in StatefulSet web failed error: ", 1))
	d.create.Store(false)
	controllertest.Eventually(t, wait, "web-0 created", has("Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful", 1))
	markReady(t, cs, "web-0")
	controllertest.Eventually(t, wait, "web-1 created", has("Normal SuccessfulCreate create Pod web-1 in StatefulSet web successful", 1))
	_, err = cs.AppsV1().StatefulSets("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "web-1 deleted", has("Normal SuccessfulDelete delete Pod web-1 in StatefulSet web successful", 1))
	deleted0, _ := has("Normal SuccessfulDelete delete Pod web-0", 1)()
	require.False(t, deleted0, "web-0 stays")
}
