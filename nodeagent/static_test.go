package nodeagent_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// fakeNode is a node agent "n1" on the fake runtime and a fake clock,
// talking to an API server with RBAC as system:node:n1 (so the node
// authorizer and NodeRestriction admission judge what it does).
type fakeNode struct {
	t     *testing.T
	ctx   context.Context
	clk   *clocktesting.FakeClock
	rt    *fake.Runtime
	agent *nodeagent.Agent
	// admin is a cluster administrator's client.
	admin kubernetes.Interface
	// apiDown, when set, makes every request of the node fail.
	apiDown atomic.Bool
	sync    time.Duration
}

// startFakeNode starts the agent; change edits its options first.
func startFakeNode(t *testing.T, fo fake.Options, change func(*nodeagent.Options)) *fakeNode {
	t.Helper()
	return startFakeNodeWith(t, fo, change, nil)
}

// startFakeNodeWith is startFakeNode that calls prepare (if not nil) with
// the agent before it runs.
func startFakeNodeWith(t *testing.T, fo fake.Options, change func(*nodeagent.Options), prepare func(*nodeagent.Agent)) *fakeNode {
	t.Helper()
	n := &fakeNode{t: t, ctx: context.Background(), clk: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), sync: time.Second}
	srv := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
	n.admin = srv.Client
	cfg := srv.ConfigFor("system:node:n1", "system:nodes")
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if n.apiDown.Load() {
				return nil, errors.New("test: the API server is down")
			}
			return rt.RoundTrip(r)
		})
	}
	nodeClient, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	fo.Clock = n.clk
	n.rt, err = fake.New(fo)
	require.NoError(t, err)
	opts := nodeagent.Options{
		NodeName: "n1", Client: nodeClient, Runtime: n.rt, Clock: n.clk, RootDir: t.TempDir(),
		SyncInterval: n.sync, BackOff: 10 * time.Second, MaxBackOff: 5 * time.Minute,
	}
	if change != nil {
		change(&opts)
	}
	n.agent, err = nodeagent.New(opts)
	require.NoError(t, err)
	if prepare != nil {
		prepare(n.agent)
	}
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan error, 1)
	go func() { done <- n.agent.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return n
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// eventually polls cond, stepping the fake clock by one sync interval
// before each look, so that periodic work comes due.
func (n *fakeNode) eventually(what string, cond func() bool) {
	n.t.Helper()
	require.Eventually(n.t, func() bool {
		n.clk.Step(n.sync)
		return cond()
	}, 30*time.Second, 10*time.Millisecond, what)
}

// containers lists the runtime's containers of the pod named name (all
// pods': ""), in state (any: "").
func (n *fakeNode) containers(name string, state runtime.ContainerState) []runtime.Container {
	f := runtime.ContainerFilter{State: state}
	if name != "" {
		f.Labels = map[string]string{runtime.LabelPodName: name}
	}
	cs, err := n.rt.ListContainers(n.ctx, f)
	require.NoError(n.t, err)
	return cs
}

// pod reads a pod as the administrator; nil if there is none.
func (n *fakeNode) pod(name string) *corev1.Pod {
	p, err := n.admin.CoreV1().Pods("default").Get(n.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(n.t, err)
	return p
}

const webManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: app
    image: app:1
    imagePullPolicy: Never
`

// TestStaticPods: a manifest in the directory runs as pod web-n1, restarted
// by the agent while the API server is away, mirrored read-only on the API
// server (recreated when deleted), replaced when it changes and removed
// with its file; broken files and other nodes' mirror pods are no pods.
func TestStaticPods(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("web.yaml", webManifest)
	write("notes.txt", "not a manifest")
	write(".hidden.yaml", webManifest)
	n := startFakeNode(t, fake.Options{
		Images: []string{"app:1", "app:2"},
		Behavior: func(_ runtime.Sandbox, c runtime.ContainerConfig) fake.Behavior {
			if c.Image == "app:1" {
				return fake.Behavior{ExitAfter: time.Minute, ExitCode: 1} // crashes now and then
			}
			return fake.Behavior{}
		},
	}, func(o *nodeagent.Options) { o.PodManifestPath = dir; o.FileCheckFrequency = 5 * time.Second })

	n.eventually("the static pod runs", func() bool { return len(n.containers("web-n1", runtime.ContainerRunning)) == 1 })
	var mirror *corev1.Pod
	n.eventually("its mirror pod is running", func() bool {
		mirror = n.pod("web-n1")
		return mirror != nil && mirror.Status.Phase == corev1.PodRunning
	})
	require.NotEmpty(t, mirror.Annotations[corev1.MirrorPodAnnotationKey])
	require.Equal(t, mirror.Annotations[corev1.MirrorPodAnnotationKey], mirror.Annotations[nodeagent.ConfigHashAnnotation])
	require.Equal(t, "file", mirror.Annotations[nodeagent.ConfigSourceAnnotation])
	require.Equal(t, "n1", mirror.Spec.NodeName)
	require.Equal(t, map[string]string{"app": "web"}, mirror.Labels)
	require.Len(t, mirror.OwnerReferences, 1)
	require.Equal(t, "Node", mirror.OwnerReferences[0].Kind)
	require.Equal(t, "n1", mirror.OwnerReferences[0].Name)
	require.Len(t, n.containers("", ""), 1, "the hidden file and the text file are no pods")

	// With the API server away, the agent restarts the crashing container.
	n.apiDown.Store(true)
	n.eventually("a restart without the API server", func() bool {
		cs := n.containers("web-n1", runtime.ContainerRunning)
		return len(cs) == 1 && cs[0].Attempt >= 1
	})
	n.apiDown.Store(false)
	n.eventually("the mirror pod shows the restart", func() bool {
		p := n.pod("web-n1")
		return p != nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})

	// A deleted mirror pod comes back; the static pod is untouched.
	running := n.containers("web-n1", runtime.ContainerRunning)
	require.NoError(t, n.admin.CoreV1().Pods("default").Delete(n.ctx, "web-n1", metav1.DeleteOptions{}))
	n.eventually("a new mirror pod", func() bool {
		p := n.pod("web-n1")
		return p != nil && p.UID != mirror.UID && p.DeletionTimestamp == nil
	})
	now := n.containers("web-n1", runtime.ContainerRunning)
	require.Len(t, now, 1)
	require.Equal(t, running[0].SandboxID, now[0].SandboxID, "deleting the mirror pod does not restart the static pod")

	// A changed manifest replaces the pod.
	oldHash := mirror.Annotations[nodeagent.ConfigHashAnnotation]
	write("web.yaml", webManifest[:len(webManifest)-len("    imagePullPolicy: Never\n")-len("    image: app:1\n")]+"    image: app:2\n    imagePullPolicy: Never\n")
	n.eventually("the new version runs alone", func() bool {
		cs := n.containers("web-n1", runtime.ContainerRunning)
		return len(cs) == 1 && cs[0].Image == "app:2" && len(n.containers("web-n1", "")) == 1
	})
	n.eventually("the mirror pod has the new hash", func() bool {
		p := n.pod("web-n1")
		return p != nil && p.Annotations[corev1.MirrorPodAnnotationKey] != oldHash && p.Spec.Containers[0].Image == "app:2"
	})

	// A mirror pod without a static pod goes.
	ghost := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ghost-n1", Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
	_, err := n.admin.CoreV1().Pods("default").Create(n.ctx, ghost, metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("the orphaned mirror pod goes", func() bool { return n.pod("ghost-n1") == nil })
	require.Empty(t, n.containers("ghost-n1", ""), "a mirror pod never runs")

	// The file goes: so do the pod and its mirror.
	require.NoError(t, os.Remove(filepath.Join(dir, "web.yaml")))
	n.eventually("the static pod and its mirror go", func() bool {
		return len(n.containers("web-n1", "")) == 0 && n.pod("web-n1") == nil
	})
}

// TestStaticPodManifests: what a manifest may say.
func TestStaticPodManifests(t *testing.T) {
	for _, tc := range []struct {
		name, manifest string
		runs           bool
	}{
		{"json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"kube-system"},"spec":{"containers":[{"name":"app","image":"app:1"}]}}`, true},
		{"not a pod", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n", false},
		{"no name", "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: app, image: app:1}]\n", false},
		{"a service account", "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  serviceAccountName: robot\n  containers: [{name: app, image: app:1}]\n", false},
		{"another node", "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  nodeName: n2\n  containers: [{name: app, image: app:1}]\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "pod"), []byte(tc.manifest), 0o644))
			n := startFakeNode(t, fake.Options{Images: []string{"app:1"}}, func(o *nodeagent.Options) { o.PodManifestPath = dir })
			if tc.runs {
				n.eventually("the pod runs", func() bool { return len(n.containers("web-n1", runtime.ContainerRunning)) == 1 })
				n.eventually("its mirror pod in its namespace", func() bool {
					_, err := n.admin.CoreV1().Pods("kube-system").Get(n.ctx, "web-n1", metav1.GetOptions{})
					return err == nil
				})
				return
			}
			for range 5 {
				n.clk.Step(n.sync)
			}
			require.Never(t, func() bool { return len(n.containers("", "")) > 0 }, 300*time.Millisecond, 20*time.Millisecond)
		})
	}
}
