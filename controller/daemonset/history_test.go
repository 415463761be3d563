package daemonset_test

import (
	"context"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/daemonset"
)

// revisions returns the DaemonSet's revisions in revision order.
func revisions(t *testing.T, cs kubernetes.Interface, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	t.Helper()
	l, err := cs.AppsV1().ControllerRevisions("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + ds.Name})
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ControllerRevision
	for i := range l.Items {
		if metav1.IsControlledBy(&l.Items[i], ds) {
			out = append(out, &l.Items[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, nil
}

func TestRevisionHistory(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	clk := clocktesting.NewFakeClock(time.Now())
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, daemonset.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	go readyKubelet(ctx, cs)
	defer func() { cancel(); require.NoError(t, <-done) }()

	for _, n := range []string{"n1", "n2"} {
		_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	ds, err := cs.AppsV1().DaemonSets("default").Create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Annotations: map[string]string{"kubernetes.io/change-cause": "first"}},
		Spec: appsv1.DaemonSetSpec{
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			RevisionHistoryLimit: ptr.To[int32](2),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// history waits until the revisions are the images in want (in
	// revision order), the last one being the DaemonSet's template, and
	// every pod runs it, labelled with its hash.
	history := func(msg string, want ...string) []*appsv1.ControllerRevision {
		t.Helper()
		var revs []*appsv1.ControllerRevision
		controllertest.Eventually(t, wait, msg, func() (bool, error) {
			d, err := cs.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if revs, err = revisions(t, cs, d); err != nil || len(revs) != len(want) {
				return false, err
			}
			for i, cr := range revs {
				var patch appsv1.DaemonSet
				if err := json.Unmarshal(cr.Data.Raw, &patch); err != nil {
					return false, err
				}
				if patch.Spec.Template.Spec.Containers[0].Image != want[i] {
					return false, nil
				}
			}
			hash := daemonset.Hash(&d.Spec.Template)
			if revs[len(revs)-1].Name != "agent-"+hash || d.Spec.Template.Spec.Containers[0].Image != want[len(want)-1] {
				return false, nil
			}
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
			if err != nil {
				return false, err
			}
			live := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					continue
				}
				live++
				if p.Labels[appsv1.ControllerRevisionHashLabelKey] != hash || p.Spec.Containers[0].Image != want[len(want)-1] {
					return false, nil
				}
			}
			return live == 2 && d.Status.UpdatedNumberScheduled == 2 && d.Status.NumberAvailable == 2 && d.Status.ObservedGeneration == d.Generation, nil
		})
		return revs
	}
	setImage := func(image string) {
		t.Helper()
		patch := `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"` + image + `"}]}}}}`
		_, err := cs.AppsV1().DaemonSets("default").Patch(ctx, "agent", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		require.NoError(t, err)
	}

	revs := history("first revision", "v1")
	cr := revs[0]
	require.EqualValues(t, 1, cr.Revision)
	require.Equal(t, "first", cr.Annotations["kubernetes.io/change-cause"])
	require.Equal(t, "agent", cr.Labels["app"])
	require.Equal(t, daemonset.Hash(&ds.Spec.Template), cr.Labels[appsv1.ControllerRevisionHashLabelKey])
	require.True(t, metav1.IsControlledBy(cr, ds))
	require.Contains(t, string(cr.Data.Raw), `"$patch":"replace"`)

	setImage("v2")
	revs = history("second revision", "v1", "v2")
	require.EqualValues(t, []int64{1, 2}, []int64{revs[0].Revision, revs[1].Revision})

	// The old template coming back is renumbered, not duplicated.
	setImage("v1")
	revs = history("v1 renumbered", "v2", "v1")
	require.EqualValues(t, []int64{2, 3}, []int64{revs[0].Revision, revs[1].Revision})
	require.Equal(t, cr.UID, revs[1].UID)

	// Undo as kubectl rollout undo does: patch the DaemonSet with the
	// revision's data; the pods roll back.
	_, err = cs.AppsV1().DaemonSets("default").Patch(ctx, "agent", types.StrategicMergePatchType, revs[0].Data.Raw, metav1.PatchOptions{})
	require.NoError(t, err)
	revs = history("undone to v2", "v1", "v2")
	require.EqualValues(t, []int64{3, 4}, []int64{revs[0].Revision, revs[1].Revision})

	// Beyond revisionHistoryLimit (2 old ones) the oldest unused go.
	setImage("v3")
	history("v3", "v1", "v2", "v3")
	setImage("v4")
	revs = history("v4, v1 pruned", "v2", "v3", "v4")
	require.EqualValues(t, []int64{4, 5, 6}, []int64{revs[0].Revision, revs[1].Revision, revs[2].Revision})
}
