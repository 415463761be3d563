package apiserver_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/daemonset"
	"github.com/gantryhq/gantry/controller/statefulset"
)

const daemonSetAndStatefulSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: c
        image: registry.local/agent:1
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: c
        image: registry.local/db:1
`

// readyPods marks every new pod of the default namespace Running and
// Ready, standing in for node agents.
func readyPods(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added {
				continue
			}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			_, _ = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
	}()
}

// TestKubectlRolloutHistory drives the DaemonSet and StatefulSet
// controllers' revision history with the real kubectl: rollout status,
// history (with --revision), undo (with --to-revision) and get
// controllerrevisions.
func TestKubectlRolloutHistory(t *testing.T) {
	for name, bin := range kubectlBinaries(t) {
		t.Run(name, func(t *testing.T) {
			_, cs, url := newTestServer(t)
			k := &kubectlRunner{t: t, bin: bin, server: url, home: t.TempDir()}
			ctx, cancel := context.WithCancel(context.Background())
			m, err := controller.NewManager(controller.ManagerOptions{Client: cs})
			require.NoError(t, err)
			require.NoError(t, daemonset.Register(m))
			require.NoError(t, statefulset.Register(m))
			done := make(chan error, 1)
			go func() { done <- m.Start(ctx) }()
			t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
			readyPods(ctx, t, cs)
			_, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
			require.NoError(t, err)

			manifest := filepath.Join(t.TempDir(), "workloads.yaml")
			require.NoError(t, os.WriteFile(manifest, []byte(daemonSetAndStatefulSet), 0o600))
			k.run("apply", "-f", manifest)

			for _, tc := range []struct{ obj, image, done string }{
				{"daemonset/agent", "registry.local/agent", `daemon set "agent" successfully rolled out`},
				{"statefulset/db", "registry.local/db", "partitioned roll out complete: 2 new pods have been updated"}, // partition defaults to 0
			} {
				status := func() { require.Contains(t, k.run("rollout", "status", tc.obj, "--timeout=60s"), tc.done) }
				status()
				k.run("annotate", tc.obj, "kubernetes.io/change-cause=image 2")
				k.run("set", "image", tc.obj, "c="+tc.image+":2")
				status()

				out := k.run("rollout", "history", tc.obj)
				require.Regexp(t, `REVISION\s+CHANGE-CAUSE`, out)
				require.Regexp(t, `\n1\s+<none>`, out)
				require.Regexp(t, `\n2\s+image 2`, out)
				out = k.run("rollout", "history", tc.obj, "--revision=1")
				require.Contains(t, out, tc.image+":1")
				require.NotContains(t, out, tc.image+":2")

				out = k.run("get", "controllerrevisions")
				require.Regexp(t, `NAME\s+CONTROLLER\s+REVISION\s+AGE`, out)
				require.Regexp(t, tc.obj[:len(tc.obj)-len(filepath.Base(tc.obj))-1]+`\.apps/`+filepath.Base(tc.obj)+`\s+2\s`, out)

				require.Contains(t, k.run("rollout", "undo", tc.obj), "rolled back")
				status()
				out = k.run("get", tc.obj, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
				require.Equal(t, tc.image+":1", out)
				// The template of revision 1 came back as revision 3.
				out = k.run("rollout", "history", tc.obj)
				require.Regexp(t, `\n2\s+image 2\n3\s`, out)
				// kubectl says "skipped rollback" only when its own rendering of
				// the template matches the data byte for byte, which depends on
				// its k8s.io/api version (creationTimestamp: null); either way
				// undoing to the current revision changes nothing.
				k.run("rollout", "undo", tc.obj, "--to-revision=3")
				status()
				out = k.run("get", tc.obj, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
				require.Equal(t, tc.image+":1", out)
				require.Contains(t, k.run("rollout", "undo", tc.obj, "--to-revision=2"), "rolled back")
				status()
				out = k.run("get", tc.obj, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
				require.Equal(t, tc.image+":2", out)
			}
		})
	}
}

// TestControllerRevisionValidation: a revision needs data and a
// non-negative revision, and its data cannot change.
func TestControllerRevisionValidation(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	crs := cs.AppsV1().ControllerRevisions("default")
	_, err := crs.Create(ctx, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Revision: 1}, metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "no data: %v", err)
	_, err = crs.Create(ctx, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Revision: -1,
		Data: runtime.RawExtension{Raw: []byte(`{"a":1}`)}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "negative revision: %v", err)

	cr, err := crs.Create(ctx, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Revision: 1,
		Data: runtime.RawExtension{Raw: []byte(`{"a":1}`)}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.JSONEq(t, `{"a":1}`, string(cr.Data.Raw))
	cr.Revision = 2
	cr, err = crs.Update(ctx, cr, metav1.UpdateOptions{})
	require.NoError(t, err, "renumbering is allowed")
	require.EqualValues(t, 2, cr.Revision)
	cr.Data.Raw = []byte(`{"a":2}`)
	_, err = crs.Update(ctx, cr, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "data changed: %v", err)
	require.Contains(t, err.Error(), "data: Invalid value")
	require.Contains(t, err.Error(), "field is immutable")
}
