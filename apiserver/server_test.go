package apiserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/store"
)

// newTestServer starts an API server on a memory store and returns the
// store, a clientset and the server's URL.
func newTestServer(t *testing.T) (store.Store, kubernetes.Interface, string) {
	t.Helper()
	s := apiservertest.Start(t, apiserver.Options{})
	return s.Store, s.Client, s.URL
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestPodLifecycle(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")

	created, err := pods.Create(ctx, testPod("web-1"), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, created.UID)
	require.NotEmpty(t, created.ResourceVersion)
	require.False(t, created.CreationTimestamp.IsZero())
	require.Equal(t, corev1.PodPending, created.Status.Phase)

	_, err = pods.Create(ctx, testPod("web-1"), metav1.CreateOptions{})
	require.True(t, apierrors.IsAlreadyExists(err), "second create: %v", err)

	got, err := pods.Get(ctx, "web-1", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, created.UID, got.UID)

	// Stale update: 409.
	stale := got.DeepCopy()
	got.Spec.Containers[0].Image = "busybox:2"
	updated, err := pods.Update(ctx, got, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, "busybox:2", updated.Spec.Containers[0].Image)
	stale.Spec.Containers[0].Image = "busybox:3"
	_, err = pods.Update(ctx, stale, metav1.UpdateOptions{})
	require.True(t, apierrors.IsConflict(err), "stale update: %v", err)

	// Patches.
	p, err := pods.Patch(ctx, "web-1", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"front"}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.Equal(t, "front", p.Labels["tier"])
	p, err = pods.Patch(ctx, "web-1", types.StrategicMergePatchType, []byte(`{"spec":{"containers":[{"name":"c","image":"busybox:4"}]}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.Len(t, p.Spec.Containers, 1)
	require.Equal(t, "busybox:4", p.Spec.Containers[0].Image)
	p, err = pods.Patch(ctx, "web-1", types.JSONPatchType, []byte(`[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.Equal(t, "b", p.Annotations["a"])

	// Selectors.
	_, err = pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Labels: map[string]string{"app": "db"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	list, err = pods.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=db-1"})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	_, err = pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"})
	require.True(t, apierrors.IsBadRequest(err), "bad field selector: %v", err)

	// Status is kept apart from spec.
	p.Status.Phase = corev1.PodRunning
	p, err = pods.Update(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.PodPending, p.Status.Phase, "main resource must not change status")
	p.Status.Phase = corev1.PodRunning
	p, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.PodRunning, p.Status.Phase)

	// Unscheduled pods are deleted at once.
	require.NoError(t, pods.Delete(ctx, "db-1", metav1.DeleteOptions{}))
	_, err = pods.Get(ctx, "db-1", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))
}

func TestBindingAndGracefulDelete(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	_, err := pods.Create(ctx, testPod("web-1"), metav1.CreateOptions{})
	require.NoError(t, err)

	require.NoError(t, pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}))
	err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n2"}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsConflict(err), "second binding: %v", err)
	p, err := pods.Get(ctx, "web-1", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "n1", p.Spec.NodeName)

	// A bound pod is deleted gracefully: marked first, gone after grace 0.
	require.NoError(t, pods.Delete(ctx, "web-1", metav1.DeleteOptions{}))
	p, err = pods.Get(ctx, "web-1", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, p.DeletionTimestamp)
	zero := int64(0)
	require.NoError(t, pods.Delete(ctx, "web-1", metav1.DeleteOptions{GracePeriodSeconds: &zero}))
	_, err = pods.Get(ctx, "web-1", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "after grace 0: %v", err)
}

func TestWatch(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cms := cs.CoreV1().ConfigMaps("default")
	list, err := cms.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: "keep=yes"})
	require.NoError(t, err)
	defer w.Stop()

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"keep": "yes"}}, Data: map[string]string{"k": "v"}}
	_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	require.NoError(t, err)
	cm.Data["k"] = "v2"
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	cm.Labels["keep"] = "no" // leaves the selector: DELETED for this watcher
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)

	var got []watch.EventType
	for len(got) < 3 {
		select {
		case ev, ok := <-w.ResultChan():
			require.True(t, ok, "watch closed early after %v", got)
			got = append(got, ev.Type)
		case <-ctx.Done():
			t.Fatalf("timed out; events so far: %v", got)
		}
	}
	require.Equal(t, []watch.EventType{watch.Added, watch.Modified, watch.Deleted}, got)
}

func TestNamespaceLifecycle(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	_, err := cs.CoreV1().ConfigMaps("nope").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsNotFound(err), "create in missing namespace: %v", err)

	err = cs.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{})
	require.True(t, apierrors.IsForbidden(err), "deleting default: %v", err)

	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, "team", metav1.DeleteOptions{}))
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "team", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.NamespaceTerminating, ns.Status.Phase)
	_, err = cs.CoreV1().ConfigMaps("team").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "create in terminating namespace: %v", err)

	ns.Spec.Finalizers = nil
	_, err = cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Namespaces().Get(ctx, "team", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "after finalize: %v", err)
}

func everything() labels.Selector { return labels.Everything() }
