package statefulset_test

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/statefulset"
)

func TestRevisionHistory(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	clk := clocktesting.NewFakeClock(time.Now())
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, statefulset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	// A kubelet that readies every new pod and records the order in which
	// pods are created.
	var mu sync.Mutex
	var created []string
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added {
				continue
			}
			mu.Lock()
			created = append(created, p.Name)
			mu.Unlock()
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			_, _ = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
	}()
	takeCreated := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := created
		created = nil
		return out
	}

	set, err := cs.AppsV1().StatefulSets("default").Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](3), ServiceName: "db", RevisionHistoryLimit: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// history waits until the revisions hold the images in want in
	// revision order, the last being the set's template, and the rollout
	// to it is complete.
	history := func(msg string, want ...string) []appsv1.ControllerRevision {
		t.Helper()
		var revs []appsv1.ControllerRevision
		controllertest.Eventually(t, wait, msg, func() (bool, error) {
			ss, err := cs.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			l, err := cs.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
			if err != nil || len(l.Items) != len(want) {
				return false, err
			}
			revs = l.Items
			sort.Slice(revs, func(i, j int) bool { return revs[i].Revision < revs[j].Revision })
			for i, cr := range revs {
				var patch appsv1.StatefulSet
				if err := json.Unmarshal(cr.Data.Raw, &patch); err != nil {
					return false, err
				}
				if patch.Spec.Template.Spec.Containers[0].Image != want[i] || !metav1.IsControlledBy(&cr, set) {
					return false, nil
				}
			}
			cur := revs[len(revs)-1].Name
			if cur != "db-"+statefulset.Hash(&ss.Spec.Template) {
				return false, nil
			}
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=db"})
			if err != nil {
				return false, err
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil || p.Labels[appsv1.ControllerRevisionHashLabelKey] != cur || p.Spec.Containers[0].Image != want[len(want)-1] {
					return false, nil
				}
			}
			st := ss.Status
			return len(pods.Items) == 3 && st.UpdatedReplicas == 3 && st.ReadyReplicas == 3 && st.CurrentReplicas == 3 &&
				st.CurrentRevision == cur && st.UpdateRevision == cur && st.ObservedGeneration == ss.Generation, nil
		})
		return revs
	}
	setImage := func(image string) {
		t.Helper()
		patch := `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"` + image + `"}]}}}}`
		_, err := cs.AppsV1().StatefulSets("default").Patch(ctx, "db", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		require.NoError(t, err)
	}

	revs := history("first revision", "v1")
	require.EqualValues(t, 1, revs[0].Revision)
	require.Equal(t, []string{"db-0", "db-1", "db-2"}, takeCreated())

	// A rolling update replaces pods from the highest ordinal down.
	setImage("v2")
	revs = history("second revision", "v1", "v2")
	require.EqualValues(t, []int64{1, 2}, []int64{revs[0].Revision, revs[1].Revision})
	require.Equal(t, []string{"db-2", "db-1", "db-0"}, takeCreated())
	v1 := revs[0]

	// Undo as kubectl rollout undo does: v1 comes back renumbered.
	_, err = cs.AppsV1().StatefulSets("default").Patch(ctx, "db", types.StrategicMergePatchType, v1.Data.Raw, metav1.PatchOptions{})
	require.NoError(t, err)
	revs = history("undone to v1", "v2", "v1")
	require.EqualValues(t, []int64{2, 3}, []int64{revs[0].Revision, revs[1].Revision})
	require.Equal(t, v1.UID, revs[1].UID)
	takeCreated()

	// revisionHistoryLimit 1: v2, now two templates old, is pruned.
	setImage("v3")
	revs = history("v3, v2 pruned", "v1", "v3")
	require.EqualValues(t, []int64{3, 4}, []int64{revs[0].Revision, revs[1].Revision})
}
