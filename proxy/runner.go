package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// Default sync periods, as kube-proxy's flags have them.
const (
	DefaultMinSyncPeriod = time.Second
	DefaultSyncPeriod    = 30 * time.Second
)

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	// Client watches Services and EndpointSlices. Required.
	Client kubernetes.Interface
	// Proxier programs the data plane. Required.
	Proxier Proxier
	// MinSyncPeriod is the least time between two syncs (--min-sync-period):
	// changes arriving faster are batched into one sync. Zero means
	// DefaultMinSyncPeriod; negative means no batching.
	MinSyncPeriod time.Duration
	// SyncPeriod is the longest time between two syncs (--sync-period): a
	// full sync repairs rules changed behind the proxy's back. Zero means
	// DefaultSyncPeriod.
	SyncPeriod time.Duration
	// Registerer receives the proxy's metrics; nil means a new registry,
	// served by Handler.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics; nil means the registry made for a nil
	// Registerer (or prometheus.DefaultGatherer when Registerer is set).
	Gatherer prometheus.Gatherer
	// Clock times the sync periods; nil means the real clock.
	Clock clock.WithTicker
	// Logger receives sync errors; nil means slog.Default().
	Logger *slog.Logger
}

// Runner drives a Proxier from the API server: client-go informers on
// Services and EndpointSlices feed it, and every change leads to a sync,
// batched so that syncs start at least MinSyncPeriod apart and happen at
// least every SyncPeriod. A failed sync is retried after MinSyncPeriod. It is the service proxy of a node
// (kube-proxy's role); Run blocks, Handler serves its health and metrics.
type Runner struct {
	opts    RunnerOptions
	kick    chan struct{}
	metrics *runnerMetrics
	gather  prometheus.Gatherer

	mu         sync.Mutex
	lastOK     time.Time // end of the last successful sync
	pendingAt  time.Time // first change not yet synced; zero when none
	lastErr    error
	synced     bool
	lastResult *State
}

// NewRunner validates opts and returns a Runner.
func NewRunner(opts RunnerOptions) (*Runner, error) {
	if opts.Client == nil {
		return nil, errors.New("proxy: RunnerOptions.Client is required")
	}
	if opts.Proxier == nil {
		return nil, errors.New("proxy: RunnerOptions.Proxier is required")
	}
	if opts.MinSyncPeriod == 0 {
		opts.MinSyncPeriod = DefaultMinSyncPeriod
	}
	if opts.SyncPeriod == 0 {
		opts.SyncPeriod = DefaultSyncPeriod
	}
	if opts.SyncPeriod < 0 {
		return nil, fmt.Errorf("proxy: SyncPeriod %v must be positive", opts.SyncPeriod)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	gather := opts.Gatherer
	if opts.Registerer == nil {
		reg := prometheus.NewRegistry()
		opts.Registerer = reg
		if gather == nil {
			gather = reg
		}
	}
	if gather == nil {
		gather = prometheus.DefaultGatherer
	}
	m, err := newRunnerMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("proxy: metrics: %w", err)
	}
	return &Runner{opts: opts, kick: make(chan struct{}, 1), metrics: m, gather: gather}, nil
}

// Run watches the API server and syncs the proxier until ctx is done. It
// blocks; the rules stay in place when it returns (call the proxier's
// Cleanup to remove them).
func (r *Runner) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(r.opts.Client, 0)
	services := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.changed() },
		UpdateFunc: func(any, any) { r.changed() },
		DeleteFunc: func(any) { r.changed() },
	}
	if _, err := services.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("proxy: services informer: %w", err)
	}
	if _, err := slices.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("proxy: endpointslices informer: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("proxy: %v informer did not sync", typ)
		}
	}
	r.mu.Lock()
	r.synced = true
	r.mu.Unlock()

	build := func() (*State, error) {
		svcs, err := services.Lister().List(labels.Everything())
		if err != nil {
			return nil, err
		}
		eps, err := slices.Lister().List(labels.Everything())
		if err != nil {
			return nil, err
		}
		return BuildState(svcs, eps), nil
	}

	clk := r.opts.Clock
	var lastStart time.Time
	for {
		// Batch: the next sync starts no sooner than MinSyncPeriod after
		// the previous one.
		if !lastStart.IsZero() {
			if wait := r.opts.MinSyncPeriod - clk.Since(lastStart); wait > 0 {
				t := clk.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C():
				}
			}
		}
		// Drain a kick that arrived while waiting: this sync covers it.
		select {
		case <-r.kick:
		default:
		}
		lastStart = clk.Now()
		r.syncOnce(ctx, build)

		period := clk.NewTimer(r.opts.SyncPeriod)
		select {
		case <-ctx.Done():
			period.Stop()
			return nil
		case <-r.kick:
		case <-period.C():
		}
		period.Stop()
	}
}

func (r *Runner) syncOnce(ctx context.Context, build func() (*State, error)) {
	start := r.opts.Clock.Now()
	r.mu.Lock()
	pendingAt := r.pendingAt
	r.pendingAt = time.Time{}
	r.mu.Unlock()

	state, err := build()
	if err == nil {
		err = r.opts.Proxier.Sync(ctx, state)
	}
	end := r.opts.Clock.Now()
	r.metrics.duration.Observe(end.Sub(start).Seconds())

	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
	if err != nil {
		r.metrics.errors.Inc()
		r.opts.Logger.ErrorContext(ctx, "proxy sync failed", "err", err)
		// Keep the change pending (since the earliest time it waits) so
		// that health reflects it, and retry after MinSyncPeriod.
		earliest := pendingAt
		if earliest.IsZero() {
			earliest = start
		}
		if r.pendingAt.IsZero() || earliest.Before(r.pendingAt) {
			r.pendingAt = earliest
		}
		select {
		case r.kick <- struct{}{}:
		default:
		}
		return
	}
	r.lastOK = end
	r.lastResult = state
	r.metrics.lastSync.Set(float64(end.UnixNano()) / 1e9)
	if !pendingAt.IsZero() {
		r.metrics.programming.Observe(end.Sub(pendingAt).Seconds())
	}
	eps := 0
	for _, sp := range state.Services {
		eps += len(sp.Endpoints)
	}
	r.metrics.services.Set(float64(len(state.Services)))
	r.metrics.endpoints.Set(float64(eps))
	if c, ok := r.opts.Proxier.(interface{ RuleCount() int }); ok {
		r.metrics.rules.Set(float64(c.RuleCount()))
	}
}

// changed records that the desired state changed and wakes the sync loop.
func (r *Runner) changed() {
	r.mu.Lock()
	if r.pendingAt.IsZero() {
		r.pendingAt = r.opts.Clock.Now()
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// LastState returns the State of the last successful sync, or nil.
func (r *Runner) LastState() *State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastResult
}

// Healthy reports nil when the informers have synced, a sync has
// succeeded, and no change has waited for longer than twice SyncPeriod;
// otherwise an error saying why not.
func (r *Runner) Healthy() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Clock.Now()
	switch {
	case !r.synced:
		return errors.New("services and endpointslices not yet listed")
	case r.lastOK.IsZero():
		if r.lastErr != nil {
			return fmt.Errorf("no successful sync yet: %w", r.lastErr)
		}
		return errors.New("no sync yet")
	case !r.pendingAt.IsZero() && now.Sub(r.pendingAt) > 2*r.opts.SyncPeriod:
		msg := fmt.Sprintf("changes pending since %s (last successful sync %s)",
			r.pendingAt.UTC().Format(time.RFC3339), r.lastOK.UTC().Format(time.RFC3339))
		if r.lastErr != nil {
			return fmt.Errorf("%s: %w", msg, r.lastErr)
		}
		return errors.New(msg)
	}
	return nil
}

// Handler serves /healthz (200 or 503 with the reason, as Healthy says)
// and /metrics.
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := r.Healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(r.gather, promhttp.HandlerOpts{}))
	return mux
}

type runnerMetrics struct {
	duration, programming prometheus.Histogram
	errors                prometheus.Counter
	lastSync              prometheus.Gauge
	services, endpoints   prometheus.Gauge
	rules                 prometheus.Gauge
}

func newRunnerMetrics(reg prometheus.Registerer) (*runnerMetrics, error) {
	m := &runnerMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "proxy_sync_proxy_rules_duration_seconds", Help: "Time one sync of the data plane took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "proxy_network_programming_duration_seconds", Help: "Time from a Service or EndpointSlice change seen to its rules in place.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "proxy_sync_proxy_rules_errors_total", Help: "Syncs that failed.",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proxy_sync_proxy_rules_last_timestamp_seconds", Help: "When the last successful sync ended (Unix time).",
		}),
		services: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proxy_service_ports", Help: "Service ports programmed by the last sync.",
		}),
		endpoints: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proxy_endpoints", Help: "Endpoints programmed by the last sync.",
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proxy_rules", Help: "Rules (iptables) or elements (nftables) the proxier keeps after the last sync.",
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.programming, m.errors, m.lastSync, m.services, m.endpoints, m.rules} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
