package nodeagent_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// execLog records the exec sessions of a fake runtime.
type execLog struct {
	mu    sync.Mutex
	calls []string
	// run, when set, answers a command (default: exit 0 at once).
	run func(ctx context.Context, cmd string) int
}

func (l *execLog) exec(ctx context.Context, _ runtime.ContainerStatus, opts runtime.ExecOptions) (int, error) {
	cmd := strings.Join(opts.Cmd, " ")
	l.mu.Lock()
	l.calls = append(l.calls, cmd)
	run := l.run
	l.mu.Unlock()
	if run != nil {
		return run(ctx, cmd), nil
	}
	return 0, nil
}

func (l *execLog) has(cmd string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c == cmd {
			return true
		}
	}
	return false
}

func hookPod(name string, lc *corev1.Lifecycle, grace int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName: "n1", TerminationGracePeriodSeconds: ptr.To(grace),
			Containers: []corev1.Container{{Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever, Lifecycle: lc}},
		},
	}
}

func execHook(cmd ...string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
}

// stopRecorder records the grace periods containers are stopped with.
type stopRecorder struct {
	runtime.Runtime
	mu     sync.Mutex
	graces []time.Duration
}

func (r *stopRecorder) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	r.graces = append(r.graces, grace)
	r.mu.Unlock()
	return r.Runtime.StopContainer(ctx, id, grace)
}

func (r *stopRecorder) stops() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.graces...)
}

// TestPreStopHookWithinGracePeriod: deleting a pod runs its preStop hook
// in the running container first; the hook's time comes out of the grace
// period: after a 5s hook, the container is stopped with the 25s left.
func TestPreStopHookWithinGracePeriod(t *testing.T) {
	var n *fakeNode
	log := &execLog{}
	log.run = func(ctx context.Context, cmd string) int {
		if cmd == "sh -c save-state" {
			select { // the hook takes 5s
			case <-n.clk.After(5 * time.Second):
			case <-ctx.Done():
			}
		}
		return 0
	}
	rec := &stopRecorder{}
	n = startFakeNode(t, fake.Options{Images: []string{"app:1"}, Exec: log.exec}, func(o *nodeagent.Options) {
		rec.Runtime = o.Runtime
		o.Runtime = rec
	})
	pods := n.admin.CoreV1().Pods("default")
	_, err := pods.Create(n.ctx, hookPod("web", &corev1.Lifecycle{PreStop: execHook("sh", "-c", "save-state")}, 30), metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("the pod runs", func() bool { p := n.pod("web"); return p != nil && p.Status.Phase == corev1.PodRunning })
	require.False(t, log.has("sh -c save-state"), "no preStop hook while it runs")

	require.NoError(t, pods.Delete(n.ctx, "web", metav1.DeleteOptions{}))
	n.eventually("the pod is gone", func() bool { return n.pod("web") == nil })
	require.True(t, log.has("sh -c save-state"), "the preStop hook ran")
	require.Equal(t, []time.Duration{25 * time.Second}, rec.stops(), "the hook's 5s came out of the 30s grace period")
}

// TestPostStartHooks: an exec postStart hook runs after the container
// starts; an httpGet one reaches the pod; a failing one kills the container
// (FailedPostStartHook), which then restarts with back-off.
func TestPostStartHooks(t *testing.T) {
	log := &execLog{run: func(_ context.Context, cmd string) int {
		if cmd == "false" {
			return 1
		}
		return 0
	}}
	var gets sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gets.Store(r.URL.Path, true) }))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	portNum, err := strconv.Atoi(port)
	require.NoError(t, err)

	n := startFakeNode(t, fake.Options{Images: []string{"app:1"}, Exec: log.exec}, nil)
	pods := n.admin.CoreV1().Pods("default")
	for _, p := range []*corev1.Pod{
		hookPod("exec", &corev1.Lifecycle{PostStart: execHook("touch", "/started")}, 1),
		hookPod("http", &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
			Host: "127.0.0.1", Port: intstr.FromInt(portNum), Path: "/warm-up",
		}}}, 1),
		hookPod("failing", &corev1.Lifecycle{PostStart: execHook("false")}, 1),
	} {
		_, err := pods.Create(n.ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	n.eventually("the good pods run", func() bool {
		a, b := n.pod("exec"), n.pod("http")
		return a.Status.Phase == corev1.PodRunning && b.Status.Phase == corev1.PodRunning
	})
	require.True(t, log.has("touch /started"))
	_, ok := gets.Load("/warm-up")
	require.True(t, ok, "the httpGet hook reached the server")

	n.eventually("the failing hook's container is killed and restarted", func() bool {
		cs := n.containers("failing", "")
		return len(cs) >= 2
	})
	for _, c := range n.containers("failing", runtime.ContainerExited) {
		st, err := n.rt.ContainerStatus(n.ctx, c.ID)
		require.NoError(t, err)
		require.NotZero(t, st.FinishedAt)
	}
	n.eventually("a FailedPostStartHook event", func() bool {
		evs, err := n.admin.CoreV1().Events("default").List(n.ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, e := range evs.Items {
			if e.Reason == "FailedPostStartHook" && e.InvolvedObject.Name == "failing" {
				return true
			}
		}
		return false
	})
}
