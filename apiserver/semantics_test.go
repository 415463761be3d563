package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/store"
)

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func TestDefaultsGenerationAndScale(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	deps := cs.AppsV1().Deployments("default")
	d, err := deps.Create(ctx, deployment("web", 2), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), d.Generation)
	require.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, d.Spec.Strategy.Type, "defaults applied")
	require.Equal(t, corev1.RestartPolicyAlways, d.Spec.Template.Spec.RestartPolicy)

	// Metadata changes do not bump generation; spec changes do.
	d.Labels = map[string]string{"x": "y"}
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), d.Generation)

	sc, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(2), sc.Spec.Replicas)
	require.Equal(t, "app=web", sc.Status.Selector)
	sc.Spec.Replicas = 5
	sc, err = deps.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(5), sc.Spec.Replicas)
	d, err = deps.Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(5), *d.Spec.Replicas)
	require.Equal(t, int64(2), d.Generation)

	_, err = deps.UpdateScale(ctx, "web", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: autoscalingv1.ScaleSpec{Replicas: -1}}, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "negative scale: %v", err)
}

func TestValidationErrorsHaveCauses(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	bad := deployment("Bad_Name", 1)
	bad.Spec.Template.Labels = map[string]string{"app": "other"} // does not match the selector
	_, err := cs.AppsV1().Deployments("default").Create(ctx, bad, metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	status := err.(apierrors.APIStatus).Status()
	require.Equal(t, int32(http.StatusUnprocessableEntity), status.Code)
	var fields []string
	for _, c := range status.Details.Causes {
		fields = append(fields, c.Field)
	}
	require.Contains(t, fields, "metadata.name")
	require.Contains(t, fields, "spec.template.metadata.labels")

	// The seeds' rule: a pod's spec is immutable but for images,
	// activeDeadlineSeconds and added tolerations.
	pods := cs.CoreV1().Pods("default")
	p, err := pods.Create(ctx, testPod("p"), metav1.CreateOptions{})
	require.NoError(t, err)
	p.Spec.Containers[0].Command = []string{"sh"}
	_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "changing a pod's command: %v", err)
	p.Spec.Containers[0].Command = nil
	p.Spec.Containers[0].Image = "busybox:2"
	p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
	p.Spec.ActiveDeadlineSeconds = ptr.To(int64(60))
	_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func TestDeleteCollectionAndPropagation(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	for _, n := range []string{"a", "b", "c"} {
		l := map[string]string{"group": "one"}
		if n == "c" {
			l["group"] = "two"
		}
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: l}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "group=one"}))
	l, err := cms.List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Equal(t, "c", l.Items[0].Name)

	// Foreground deletion waits for the garbage collector's finalizer.
	fg := metav1.DeletePropagationForeground
	require.NoError(t, cms.Delete(ctx, "c", metav1.DeleteOptions{PropagationPolicy: &fg}))
	c, err := cms.Get(ctx, "c", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, c.DeletionTimestamp)
	require.Contains(t, c.Finalizers, metav1.FinalizerDeleteDependents)
	// Removing the last finalizer completes the deletion.
	c.Finalizers = nil
	_, err = cms.Update(ctx, c, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = cms.Get(ctx, "c", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "%v", err)

	// Preconditions.
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "d"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	err = cms.Delete(ctx, "d", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To("1")}})
	require.True(t, apierrors.IsConflict(err), "%v", err)
}

func TestWatchSemantics(t *testing.T) {
	st, cs, _ := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cms := cs.CoreV1().ConfigMaps("default")
	_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	t.Run("initial events end with a bookmark", func(t *testing.T) {
		w, err := cms.Watch(ctx, metav1.ListOptions{
			SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		})
		require.NoError(t, err)
		defer w.Stop()
		ev := <-w.ResultChan()
		require.Equal(t, watch.Added, ev.Type)
		ev = <-w.ResultChan()
		require.Equal(t, watch.Bookmark, ev.Type)
		require.Equal(t, "true", ev.Object.(*corev1.ConfigMap).Annotations["k8s.io/initial-events-end"])
	})

	t.Run("timeoutSeconds ends the watch", func(t *testing.T) {
		l, err := cms.List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, TimeoutSeconds: ptr.To(int64(1))})
		require.NoError(t, err)
		select {
		case _, ok := <-w.ResultChan():
			require.False(t, ok, "expected the watch to close without events")
		case <-ctx.Done():
			t.Fatal("the watch did not end after its timeout")
		}
	})

	t.Run("a compacted resourceVersion is 410 Gone", func(t *testing.T) {
		cur, err := cms.List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		l, err := st.List(ctx, "/", store.ListOptions{Limit: 1})
		require.NoError(t, err)
		require.NoError(t, st.Compact(ctx, l.Revision))
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: cur.ResourceVersion})
		require.NoError(t, err)
		ev := <-w.ResultChan()
		require.Equal(t, watch.Error, ev.Type)
		require.Equal(t, int32(http.StatusGone), ev.Object.(*metav1.Status).Code)
		_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: cur.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		require.True(t, apierrors.IsResourceExpired(err) || apierrors.IsGone(err), "%v", err)
	})
}

func TestPagination(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	for i := range 25 {
		l := map[string]string{"even": "false"}
		if i%2 == 0 {
			l["even"] = "true"
		}
		_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-" + string(rune('a'+i)), Labels: l}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for _, selector := range []string{"", "even=true"} {
		before, err := cms.List(ctx, metav1.ListOptions{LabelSelector: selector})
		require.NoError(t, err)
		want := len(before.Items)
		var names []string
		opts := metav1.ListOptions{Limit: 4, LabelSelector: selector}
		first := ""
		for {
			l, err := cms.List(ctx, opts)
			require.NoError(t, err)
			require.LessOrEqual(t, len(l.Items), 4)
			if first == "" {
				first = l.ResourceVersion
			}
			require.Equal(t, first, l.ResourceVersion, "all pages at one revision")
			for _, it := range l.Items {
				names = append(names, it.Name)
			}
			if l.Continue == "" {
				break
			}
			if selector == "" {
				require.NotNil(t, l.RemainingItemCount)
				require.Equal(t, int64(want-len(names)), *l.RemainingItemCount)
			}
			opts.Continue = l.Continue
			// Writes between pages do not show up in the snapshot.
			_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "late-", Labels: map[string]string{"even": "true"}}}, metav1.CreateOptions{})
			require.NoError(t, err)
		}
		require.Len(t, names, want, "selector %q", selector)
	}
}

func TestTablesDiscoveryAndMetrics(t *testing.T) {
	_, cs, url := newTestServer(t)
	ctx := context.Background()
	_, err := cs.CoreV1().Pods("default").Create(ctx, testPod("p"), metav1.CreateOptions{})
	require.NoError(t, err)

	get := func(path, accept string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, body := get("/api/v1/namespaces/default/pods", "application/json;as=Table;v=v1;g=meta.k8s.io")
	require.Equal(t, 200, resp.StatusCode)
	var table metav1.Table
	require.NoError(t, json.Unmarshal(body, &table))
	require.Equal(t, "Table", table.Kind)
	var cols []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, c.Name)
		}
	}
	require.Equal(t, []string{"Name", "Ready", "Status", "Restarts", "Age"}, cols)
	require.Len(t, table.Rows, 1)
	require.Equal(t, "p", table.Rows[0].Cells[0])
	// kubectl get --show-labels prints the labels of the row's metadata.
	var rowMeta metav1.PartialObjectMetadata
	require.NoError(t, json.Unmarshal(table.Rows[0].Object.Raw, &rowMeta))
	require.Equal(t, map[string]string{"app": "web"}, rowMeta.Labels)
	require.False(t, rowMeta.CreationTimestamp.IsZero())

	// Metadata-only reads carry all of the metadata, not only the name.
	resp, body = get("/api/v1/namespaces/default/pods/p", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io")
	require.Equal(t, 200, resp.StatusCode)
	var partial metav1.PartialObjectMetadata
	require.NoError(t, json.Unmarshal(body, &partial))
	require.Equal(t, "PartialObjectMetadata", partial.Kind)
	require.Equal(t, map[string]string{"app": "web"}, partial.Labels)
	resp, body = get("/api/v1/namespaces/default/pods", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")
	require.Equal(t, 200, resp.StatusCode)
	var partialList metav1.PartialObjectMetadataList
	require.NoError(t, json.Unmarshal(body, &partialList))
	require.Len(t, partialList.Items, 1)
	require.Equal(t, map[string]string{"app": "web"}, partialList.Items[0].Labels)

	resp, _ = get("/api", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	require.Contains(t, resp.Header.Get("Content-Type"), "as=APIGroupDiscoveryList")

	resp, body = get("/metrics", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(body), `apiserver_request_total{code="201",group="",resource="pods",subresource="",verb="create"} 1`)
	require.True(t, strings.Contains(string(body), "apiserver_request_duration_seconds_bucket"))

	resp, body = get("/version", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(body), `"major":"1"`)
	resp, _ = get("/readyz", "")
	require.Equal(t, 200, resp.StatusCode)
}

func TestServerSideApplyTracksUpdates(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	applyCM := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"a":"1"}}`)
	cm, err := cms.Patch(ctx, "ssa", types.ApplyPatchType, applyCM, metav1.PatchOptions{FieldManager: "tool-a"})
	require.NoError(t, err)
	require.Equal(t, "1", cm.Data["a"])
	require.Len(t, cm.ManagedFields, 1)

	// A plain update by someone else takes the field over ...
	cm.Data["a"] = "2"
	cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "editor"})
	require.NoError(t, err)
	var managers []string
	for _, m := range cm.ManagedFields {
		managers = append(managers, m.Manager+"/"+string(m.Operation))
	}
	require.ElementsMatch(t, []string{"editor/Update"}, managers, "the editor now owns data.a")

	// ... so tool-a's next apply of a=1 conflicts unless forced.
	_, err = cms.Patch(ctx, "ssa", types.ApplyPatchType, applyCM, metav1.PatchOptions{FieldManager: "tool-a"})
	require.True(t, apierrors.IsConflict(err), "%v", err)
	cm, err = cms.Patch(ctx, "ssa", types.ApplyPatchType, applyCM, metav1.PatchOptions{FieldManager: "tool-a", Force: ptr.To(true)})
	require.NoError(t, err)
	require.Equal(t, "1", cm.Data["a"])

	_, err = cms.Patch(ctx, "ssa", types.ApplyPatchType, applyCM, metav1.PatchOptions{})
	require.True(t, apierrors.IsBadRequest(err), "apply without a field manager: %v", err)
}

// TestConcurrentPatchesAllLand: patches without a resourceVersion are
// retried by the server when another writer came first, so none is lost.
func TestConcurrentPatchesAllLand(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	cms := cs.CoreV1().ConfigMaps("default")
	_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shared"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			patch := fmt.Sprintf(`{"data":{"k%d":"v"}}`, i)
			_, err := cms.Patch(ctx, "shared", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	cm, err := cms.Get(ctx, "shared", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, cm.Data, n)

	// A patch that names a stale resourceVersion is a conflict.
	_, err = cms.Patch(ctx, "shared", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1"},"data":{"x":"y"}}`), metav1.PatchOptions{})
	require.True(t, apierrors.IsConflict(err), "%v", err)
}
