package nodeagent

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/runtime"
)

// Metric names, as the kubelet's where there is one (with the agent's
// prefix), so that dashboards translate.
const (
	metricPodStart      = "nodeagent_pod_start_duration_seconds"
	metricPodSync       = "nodeagent_pod_worker_duration_seconds"
	metricSyncErrors    = "nodeagent_pod_sync_errors_total"
	metricRunningPods   = "nodeagent_running_pods"
	metricRunningCtrs   = "nodeagent_running_containers"
	metricRuntimeOps    = "nodeagent_runtime_operations_duration_seconds"
	metricRuntimeErrors = "nodeagent_runtime_operations_errors_total"
	runtimeListTimeout  = 10 * time.Second
)

// agentMetrics are one agent's Prometheus metrics, on a registry of their
// own (served at /metrics; see Agent.Metrics). They are safe for
// concurrent use.
type agentMetrics struct {
	registry      *prometheus.Registry
	clock         clock.PassiveClock
	podStart      prometheus.Histogram
	podSync       prometheus.Histogram
	syncErrors    prometheus.Counter
	runtimeOps    *prometheus.HistogramVec
	runtimeErrors *prometheus.CounterVec
}

// newMetrics makes an agent's metrics; rt is listed at every scrape for the
// running pods and containers.
func newMetrics(rt runtime.Runtime, clk clock.PassiveClock) *agentMetrics {
	m := &agentMetrics{
		registry: prometheus.NewRegistry(),
		clock:    clk,
		podStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricPodStart,
			Help:    "Time from a pod's creation to the agent reporting it Running, in seconds (scheduling, image pulls and sandbox setup included).",
			Buckets: []float64{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 300, 600},
		}),
		podSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    metricPodSync,
			Help:    "Duration of one sync of one pod, in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricSyncErrors,
			Help: "Pod syncs that failed (and are retried with back-off).",
		}),
		runtimeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricRuntimeOps,
			Help:    "Duration of container runtime operations by operation, in seconds (streams last as long as their session).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"operation_type"}),
		runtimeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricRuntimeErrors,
			Help: "Container runtime operations that failed, by operation.",
		}, []string{"operation_type"}),
	}
	m.registry.MustRegister(m.podStart, m.podSync, m.syncErrors, m.runtimeOps, m.runtimeErrors,
		&runtimeCollector{rt: rt},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Metrics is the registry of the agent's metrics (what /metrics serves),
// for an embedding program to serve or gather elsewhere.
func (a *Agent) Metrics() prometheus.Gatherer { return a.metrics.registry }

// observeSync records one pod sync of duration d that returned err.
func (m *agentMetrics) observeSync(d time.Duration, err error) {
	m.podSync.Observe(d.Seconds())
	if err != nil {
		m.syncErrors.Inc()
	}
}

// podRunning records that pod was reported Running for the first time.
func (m *agentMetrics) podRunning(pod *corev1.Pod) {
	if pod.CreationTimestamp.IsZero() {
		return
	}
	m.podStart.Observe(m.clock.Since(pod.CreationTimestamp.Time).Seconds())
}

// runtimeCollector reports the running sandboxes (pods) and containers of a
// runtime, listed at each scrape.
type runtimeCollector struct{ rt runtime.Runtime }

var (
	runningPodsDesc = prometheus.NewDesc(metricRunningPods, "Pods with a running sandbox on this node.", nil, nil)
	runningCtrsDesc = prometheus.NewDesc(metricRunningCtrs, "Containers by state on this node.", []string{"container_state"}, nil)
)

func (c *runtimeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runningPodsDesc
	ch <- runningCtrsDesc
}

// Collect lists the runtime; when it does not answer, the two metrics are
// reported as invalid (the scrape shows the error) rather than as zero.
func (c *runtimeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), runtimeListTimeout)
	defer cancel()
	sbs, err := c.rt.ListSandboxes(ctx, runtime.SandboxFilter{})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(runningPodsDesc, err)
	} else {
		n := 0
		for _, sb := range sbs {
			if sb.State == runtime.SandboxReady {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(runningPodsDesc, prometheus.GaugeValue, float64(n))
	}
	cs, err := c.rt.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(runningCtrsDesc, err)
		return
	}
	byState := map[runtime.ContainerState]int{
		runtime.ContainerCreated: 0, runtime.ContainerRunning: 0, runtime.ContainerExited: 0,
	}
	for _, ctr := range cs {
		byState[ctr.State]++
	}
	for state, n := range byState {
		ch <- prometheus.MustNewConstMetric(runningCtrsDesc, prometheus.GaugeValue, float64(n), stateLabel(state))
	}
}

// stateLabel is the kubelet's label value for a container state.
func stateLabel(s runtime.ContainerState) string {
	switch s {
	case runtime.ContainerCreated:
		return "created"
	case runtime.ContainerRunning:
		return "running"
	case runtime.ContainerExited:
		return "exited"
	}
	return "unknown"
}

// instrumentedRuntime measures every call to a runtime.
type instrumentedRuntime struct {
	runtime.Runtime
	m *agentMetrics
}

var _ runtime.Runtime = instrumentedRuntime{}

// instrument returns rt with its calls measured.
func (m *agentMetrics) instrument(rt runtime.Runtime) runtime.Runtime {
	return instrumentedRuntime{Runtime: rt, m: m}
}

// done records an operation that started at start and returned err.
func (r instrumentedRuntime) done(op string, start time.Time, err error) {
	r.m.runtimeOps.WithLabelValues(op).Observe(r.m.clock.Since(start).Seconds())
	if err != nil {
		r.m.runtimeErrors.WithLabelValues(op).Inc()
	}
}

func (r instrumentedRuntime) RunSandbox(ctx context.Context, config runtime.SandboxConfig) (string, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.RunSandbox(ctx, config)
	r.done("run_podsandbox", start, err)
	return v, err
}

func (r instrumentedRuntime) StopSandbox(ctx context.Context, id string) error {
	start := r.m.clock.Now()
	err := r.Runtime.StopSandbox(ctx, id)
	r.done("stop_podsandbox", start, err)
	return err
}

func (r instrumentedRuntime) RemoveSandbox(ctx context.Context, id string) error {
	start := r.m.clock.Now()
	err := r.Runtime.RemoveSandbox(ctx, id)
	r.done("remove_podsandbox", start, err)
	return err
}

func (r instrumentedRuntime) SandboxStatus(ctx context.Context, id string) (runtime.SandboxStatus, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.SandboxStatus(ctx, id)
	r.done("podsandbox_status", start, err)
	return v, err
}

func (r instrumentedRuntime) ListSandboxes(ctx context.Context, filter runtime.SandboxFilter) ([]runtime.Sandbox, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.ListSandboxes(ctx, filter)
	r.done("list_podsandbox", start, err)
	return v, err
}

func (r instrumentedRuntime) CreateContainer(ctx context.Context, sandboxID string, config runtime.ContainerConfig) (string, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.CreateContainer(ctx, sandboxID, config)
	r.done("create_container", start, err)
	return v, err
}

func (r instrumentedRuntime) StartContainer(ctx context.Context, id string) error {
	start := r.m.clock.Now()
	err := r.Runtime.StartContainer(ctx, id)
	r.done("start_container", start, err)
	return err
}

func (r instrumentedRuntime) StopContainer(ctx context.Context, id string, gracePeriod time.Duration) error {
	start := r.m.clock.Now()
	err := r.Runtime.StopContainer(ctx, id, gracePeriod)
	r.done("stop_container", start, err)
	return err
}

func (r instrumentedRuntime) RemoveContainer(ctx context.Context, id string) error {
	start := r.m.clock.Now()
	err := r.Runtime.RemoveContainer(ctx, id)
	r.done("remove_container", start, err)
	return err
}

func (r instrumentedRuntime) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.ContainerStatus(ctx, id)
	r.done("container_status", start, err)
	return v, err
}

func (r instrumentedRuntime) ListContainers(ctx context.Context, filter runtime.ContainerFilter) ([]runtime.Container, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.ListContainers(ctx, filter)
	r.done("list_containers", start, err)
	return v, err
}

func (r instrumentedRuntime) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	start := r.m.clock.Now()
	err := r.Runtime.ContainerLogs(ctx, id, opts, stdout, stderr)
	r.done("container_logs", start, err)
	return err
}

func (r instrumentedRuntime) Exec(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.Exec(ctx, id, opts)
	r.done("exec", start, err)
	return v, err
}

func (r instrumentedRuntime) Attach(ctx context.Context, id string, opts runtime.AttachOptions) error {
	start := r.m.clock.Now()
	err := r.Runtime.Attach(ctx, id, opts)
	r.done("attach", start, err)
	return err
}

func (r instrumentedRuntime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.Image, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.PullImage(ctx, ref, opts)
	r.done("pull_image", start, err)
	return v, err
}

func (r instrumentedRuntime) ImageStatus(ctx context.Context, ref string) (runtime.Image, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.ImageStatus(ctx, ref)
	r.done("image_status", start, err)
	return v, err
}

func (r instrumentedRuntime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.ListImages(ctx)
	r.done("list_images", start, err)
	return v, err
}

func (r instrumentedRuntime) RemoveImage(ctx context.Context, ref string) error {
	start := r.m.clock.Now()
	err := r.Runtime.RemoveImage(ctx, ref)
	r.done("remove_image", start, err)
	return err
}

func (r instrumentedRuntime) Version(ctx context.Context) (runtime.VersionInfo, error) {
	start := r.m.clock.Now()
	v, err := r.Runtime.Version(ctx)
	r.done("version", start, err)
	return v, err
}

func (r instrumentedRuntime) Health(ctx context.Context) error {
	start := r.m.clock.Now()
	err := r.Runtime.Health(ctx)
	r.done("status", start, err)
	return err
}
