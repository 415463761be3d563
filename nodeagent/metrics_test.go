package nodeagent_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// flakyRuntime fails RunSandbox, and listing one pod's sandboxes, while
// failing is set.
type flakyRuntime struct {
	runtime.Runtime
	failing atomic.Bool
}

func (r *flakyRuntime) RunSandbox(ctx context.Context, config runtime.SandboxConfig) (string, error) {
	if r.failing.Load() {
		return "", errors.New("injected sandbox failure")
	}
	return r.Runtime.RunSandbox(ctx, config)
}

func (r *flakyRuntime) ListSandboxes(ctx context.Context, filter runtime.SandboxFilter) ([]runtime.Sandbox, error) {
	if r.failing.Load() && filter.Labels[runtime.LabelPodUID] != "" {
		return nil, errors.New("injected listing failure")
	}
	return r.Runtime.ListSandboxes(ctx, filter)
}

// metricValue is the value of the metric name with labels in g (a
// histogram's sample count), and whether there is one.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// TestMetrics runs a pod on the fake runtime, first with sandboxes failing,
// and reads the agent's metrics from its registry and from /metrics.
func TestMetrics(t *testing.T) {
	frt, err := fake.New(fake.Options{Images: []string{"app:1"}})
	require.NoError(t, err)
	rt := &flakyRuntime{Runtime: frt}
	rt.failing.Store(true)
	cs := apiServer(t)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "n1", Client: cs, Runtime: rt,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
		SyncInterval: 100 * time.Millisecond, StatusUpdateInterval: time.Second,
		BackOff: 10 * time.Millisecond, MaxBackOff: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	g := agent.Metrics()

	v, ok := metricValue(t, g, "nodeagent_running_pods", nil)
	require.True(t, ok, "running pods reported")
	assert.Zero(t, v)

	pods := cs.CoreV1().Pods("default")
	_, err = pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "a failed sync", 20*time.Second, func() (bool, error) {
		n, _ := metricValue(t, g, "nodeagent_pod_sync_errors_total", nil)
		return n > 0, nil
	})
	n, _ := metricValue(t, g, "nodeagent_runtime_operations_errors_total", map[string]string{"operation_type": "list_podsandbox"})
	assert.Positive(t, n, "failed ListSandboxes counted")

	rt.failing.Store(false)
	waitFor(t, "the pod to run", 20*time.Second, func() (bool, error) {
		p, err := pods.Get(ctx, "app", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	waitFor(t, "the pod start to be measured", 20*time.Second, func() (bool, error) {
		n, _ := metricValue(t, g, "nodeagent_pod_start_duration_seconds", nil)
		return n == 1, nil
	})
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"nodeagent_running_pods", nil, 1},
		{"nodeagent_running_containers", map[string]string{"container_state": "running"}, 1},
	} {
		v, ok := metricValue(t, g, c.name, c.labels)
		require.True(t, ok, c.name)
		assert.Equal(t, c.want, v, c.name)
	}
	for _, op := range []string{"run_podsandbox", "create_container", "start_container", "list_containers"} {
		n, ok := metricValue(t, g, "nodeagent_runtime_operations_duration_seconds", map[string]string{"operation_type": op})
		assert.True(t, ok && n > 0, "runtime operation %s measured", op)
	}
	n, _ = metricValue(t, g, "nodeagent_pod_worker_duration_seconds", nil)
	assert.Positive(t, n, "pod syncs measured")

	// /metrics serves the same registry in the text format.
	srv := httptest.NewServer(agent.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), "\nnodeagent_running_pods 1\n")
	assert.Contains(t, string(body), `nodeagent_running_containers{container_state="running"} 1`)
	assert.Contains(t, string(body), "# TYPE nodeagent_pod_start_duration_seconds histogram")

	// Access to it is nodes/metrics, not nodes/proxy.
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	attrs := nodeagent.RequestAttributes("n1", &apiserver.UserInfo{Name: "prometheus"}, req)
	assert.Equal(t, "metrics", attrs.Subresource)
	assert.Equal(t, "get", attrs.Verb)
}
