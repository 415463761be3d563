package sim_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/scheduler/sim"
	"github.com/gantryhq/gantry/store/memory"
)

// fakeNow is a clock the test advances by hand.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Step(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestRecorder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := memory.New(memory.Options{})
	defer st.Close()
	srv, err := apiserver.New(apiserver.Options{Store: st})
	require.NoError(t, err)
	require.NoError(t, srv.EnsureSystemObjects(ctx))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cs := kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL, QPS: -1})
	_, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	clk := &fakeNow{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rec, err := sim.NewRecorder(sim.RecorderOptions{Client: cs, Namespace: "default", Now: clk.Now})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()

	waitLen := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for len(rec.Trace()) < n && time.Now().Before(deadline) {
			<-time.After(5 * time.Millisecond)
		}
		require.Len(t, rec.Trace(), n)
	}
	clk.Step(2 * time.Second)
	prio := int32(7)
	_, err = cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Priority: &prio, Containers: []corev1.Container{{Name: "c", Image: "x", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitLen(1)
	seen := rec.Events()
	clk.Step(time.Second)
	require.NoError(t, cs.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}))
	// Wait for the bind event before the clock moves on.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && rec.Events() == seen {
		<-time.After(5 * time.Millisecond)
	}
	clk.Step(30 * time.Second)
	got := rec.Trace()
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, sim.Trace{{Name: "web", Arrival: 2 * time.Second, MilliCPU: 250, MemoryMiB: 512, Duration: 30 * time.Second, Priority: 7, Labels: map[string]string{"app": "web"}}}, got)
}
