package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// ErrLeadershipLost is returned by Manager.Start when leader election is on
// and the lease was lost: the process should exit (as kube-controller-manager
// does) so that no two managers act at once.
var ErrLeadershipLost = errors.New("controller manager: leadership lost")

// SetupFunc builds a controller for m: it takes informers from
// m.InformerFactory() (before the factory starts) and returns the Runnable
// the manager starts. It is called once, after leadership is acquired.
type SetupFunc func(ctx context.Context, m *Manager) (Runnable, error)

// Registration names a controller the Manager can run.
type Registration struct {
	// Name is what --controllers lists ("replicaset", "deployment", ...).
	Name string
	// Setup builds the controller.
	Setup SetupFunc
	// DisabledByDefault leaves the controller off under "*"; it runs only
	// when named explicitly.
	DisabledByDefault bool
}

// ManagerOptions configure a Manager. Client is required.
type ManagerOptions struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// Dynamic reaches any resource; the namespace controller and the
	// garbage collector need it (their setup fails without it).
	Dynamic dynamic.Interface
	// Clock is handed to the controllers (RequeueAfter, backoff, grace
	// periods); nil means the real clock. Leader election always uses real
	// time, as client-go's elector does.
	Clock clock.WithTicker
	// ResyncPeriod of the shared informers; 0 means no periodic resync.
	ResyncPeriod time.Duration
	// Controllers selects what runs, like kube-controller-manager's
	// --controllers: "*" enables everything not disabled by default, "foo"
	// enables foo, "-foo" disables foo. Nil means ["*"].
	Controllers []string
	// Logger is the base logger; nil means slog.Default().
	Logger *slog.Logger

	// LeaderElect runs the controllers only while holding the Lease
	// LeaseNamespace/LeaseName (coordination.k8s.io/v1).
	LeaderElect bool
	// LeaseName defaults to "gantry-controller-manager", LeaseNamespace to
	// "kube-system".
	LeaseName, LeaseNamespace string
	// Identity of this candidate; empty means hostname plus a random suffix.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod default to 15s, 10s, 2s
	// (the Kubernetes defaults).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// Address serves /healthz, /readyz, /livez and /metrics, e.g. ":10257"
	// (kube-controller-manager's secure port; the seeds' insecure 10252).
	// Empty means no listener: Handler still serves the same endpoints.
	Address string
	// Registry receives the metrics; nil means a registry of the manager's
	// own.
	Registry *prometheus.Registry
}

// Manager runs a set of controllers over one shared informer factory,
// optionally only while leader, and serves health and metrics. Register
// controllers before Start. Start blocks.
type Manager struct {
	opts    ManagerOptions
	log     *slog.Logger
	factory informers.SharedInformerFactory
	metrics *Metrics
	reg     *prometheus.Registry
	handler http.Handler
	leader  atomic.Bool
	gauge   prometheus.Gauge

	mu      sync.Mutex
	regs    []Registration
	extra   []Runnable
	started bool
	addr    net.Addr
	events  record.EventBroadcaster // made on first use
}

// NewManager validates opts and returns a Manager.
func NewManager(opts ManagerOptions) (*Manager, error) {
	if opts.Client == nil {
		return nil, errors.New("controller manager: ManagerOptions.Client is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Controllers == nil {
		opts.Controllers = []string{"*"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LeaseName == "" {
		opts.LeaseName = "gantry-controller-manager"
	}
	if opts.LeaseNamespace == "" {
		opts.LeaseNamespace = metav1.NamespaceSystem
	}
	if opts.Identity == "" {
		h, _ := os.Hostname()
		opts.Identity = h + "_" + rand.String(8)
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = 15 * time.Second
	}
	if opts.RenewDeadline == 0 {
		opts.RenewDeadline = 10 * time.Second
	}
	if opts.RetryPeriod == 0 {
		opts.RetryPeriod = 2 * time.Second
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	m := &Manager{
		opts:    opts,
		log:     opts.Logger,
		factory: informers.NewSharedInformerFactory(opts.Client, opts.ResyncPeriod),
		reg:     opts.Registry,
	}
	var err error
	if m.metrics, err = NewMetrics(opts.Registry); err != nil {
		return nil, fmt.Errorf("controller manager: metrics: %w", err)
	}
	m.gauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "leader_election_master_status", Help: "1 while this manager holds the lease (or runs without election).",
	})
	if err := opts.Registry.Register(m.gauge); err != nil {
		return nil, fmt.Errorf("controller manager: metrics: %w", err)
	}
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/livez", ok)
	mux.HandleFunc("/readyz", ok)
	mux.Handle("/metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{}))
	m.handler = mux
	return m, nil
}

// Client returns the API client.
func (m *Manager) Client() kubernetes.Interface { return m.opts.Client }

// Dynamic returns the dynamic client (nil if none was configured).
func (m *Manager) Dynamic() dynamic.Interface { return m.opts.Dynamic }

// Clock returns the injected clock.
func (m *Manager) Clock() clock.WithTicker { return m.opts.Clock }

// InformerFactory returns the shared informer factory; informers taken
// from it before Start are started by the manager.
func (m *Manager) InformerFactory() informers.SharedInformerFactory { return m.factory }

// Metrics returns the shared controller metrics.
func (m *Manager) Metrics() *Metrics { return m.metrics }

// Handler serves /healthz, /livez, /readyz and /metrics.
func (m *Manager) Handler() http.Handler { return m.handler }

// EventRecorder returns a recorder of core/v1 Events (what kubectl
// describe lists) from component, e.g. "replicaset-controller". Events are
// sent to the API server asynchronously, aggregated and rate-limited by
// client-go's correlator, while the manager runs its controllers; events
// recorded before are queued, and those after Start returns are dropped.
// Safe for concurrent use.
func (m *Manager) EventRecorder(component string) record.EventRecorder {
	return m.broadcaster().NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

func (m *Manager) broadcaster() record.EventBroadcaster {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events == nil {
		m.events = record.NewBroadcaster()
	}
	return m.events
}

// IsLeader reports whether the controllers are running (always true once
// started without leader election).
func (m *Manager) IsLeader() bool { return m.leader.Load() }

// Addr is the address the health/metrics listener is bound to, nil before
// Start or without Options.Address.
func (m *Manager) Addr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addr
}

// Register adds a controller the manager may run (depending on
// ManagerOptions.Controllers). Duplicate names are errors.
func (m *Manager) Register(r Registration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Name == "" || r.Setup == nil {
		return errors.New("controller manager: registration needs Name and Setup")
	}
	if m.started {
		return fmt.Errorf("controller manager: register %q after Start", r.Name)
	}
	for _, o := range m.regs {
		if o.Name == r.Name {
			return fmt.Errorf("controller manager: controller %q registered twice", r.Name)
		}
	}
	m.regs = append(m.regs, r)
	return nil
}

// Add makes the manager start r with the controllers (while leader).
func (m *Manager) Add(r Runnable) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extra = append(m.extra, r)
}

// Enabled reports whether name is enabled by the --controllers style list.
func Enabled(name string, disabledByDefault bool, list []string) bool {
	star := false
	for _, c := range list {
		switch c {
		case name:
			return true
		case "-" + name:
			return false
		case "*":
			star = true
		}
	}
	return star && !disabledByDefault
}

// EnabledNames returns the registered controllers that would run.
func (m *Manager) EnabledNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.regs {
		if Enabled(r.Name, r.DisabledByDefault, m.opts.Controllers) {
			out = append(out, r.Name)
		}
	}
	return out
}

func (m *Manager) validate() error {
	for _, c := range m.opts.Controllers {
		n := strings.TrimPrefix(c, "-")
		if n == "*" {
			continue
		}
		if !slices.ContainsFunc(m.regs, func(r Registration) bool { return r.Name == n }) {
			return fmt.Errorf("controller manager: unknown controller %q in --controllers", c)
		}
	}
	return nil
}

// Start serves health and metrics, then (after winning the election when
// LeaderElect is set) builds the enabled controllers, starts the informers
// and runs everything until ctx is done. It returns nil on a clean stop,
// ErrLeadershipLost if the lease was lost, or the first controller error.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("controller manager: already started")
	}
	m.started = true
	err := m.validate()
	m.mu.Unlock()
	if err != nil {
		return err
	}
	ctx = WithLogger(ctx, m.log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer m.broadcaster().Shutdown()

	var wg sync.WaitGroup
	defer wg.Wait()
	if m.opts.Address != "" {
		ln, err := net.Listen("tcp", m.opts.Address)
		if err != nil {
			return fmt.Errorf("controller manager: listen %s: %w", m.opts.Address, err)
		}
		m.mu.Lock()
		m.addr = ln.Addr()
		m.mu.Unlock()
		srv := &http.Server{Handler: m.handler, ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() { _ = srv.Serve(ln) })
		defer srv.Close()
	}

	if !m.opts.LeaderElect {
		return m.run(ctx)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: m.opts.LeaseNamespace, Name: m.opts.LeaseName},
		Client:     m.opts.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: m.opts.Identity},
	}
	var (
		runErr  error
		lost    atomic.Bool
		running sync.WaitGroup
		runMu   sync.Mutex
		stopped bool
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   m.opts.LeaseDuration,
		RenewDeadline:   m.opts.RenewDeadline,
		RetryPeriod:     m.opts.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            m.opts.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				runMu.Lock()
				if stopped {
					runMu.Unlock()
					return
				}
				running.Add(1)
				runMu.Unlock()
				defer running.Done()
				m.log.Info("became leader", "identity", m.opts.Identity)
				runErr = m.run(lctx)
				cancel()
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					lost.Store(true)
				}
				m.leader.Store(false)
				m.gauge.Set(0)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("controller manager: leader election: %w", err)
	}
	le.Run(ctx)
	runMu.Lock()
	stopped = true
	runMu.Unlock()
	running.Wait()
	if runErr != nil {
		return runErr
	}
	if lost.Load() {
		return ErrLeadershipLost
	}
	return nil
}

// run builds and runs the enabled controllers until ctx is done.
func (m *Manager) run(ctx context.Context) error {
	m.mu.Lock()
	regs := slices.Clone(m.regs)
	runnables := slices.Clone(m.extra)
	m.mu.Unlock()
	for _, r := range regs {
		if !Enabled(r.Name, r.DisabledByDefault, m.opts.Controllers) {
			continue
		}
		rn, err := r.Setup(ctx, m)
		if err != nil {
			return fmt.Errorf("controller manager: set up %q: %w", r.Name, err)
		}
		if rn != nil {
			runnables = append(runnables, rn)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := m.broadcaster().StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: m.opts.Client.CoreV1().Events("")})
	defer sink.Stop()
	m.factory.Start(ctx.Done())
	m.leader.Store(true)
	m.gauge.Set(1)
	defer func() { m.leader.Store(false); m.gauge.Set(0) }()
	errc := make(chan error, len(runnables))
	for _, r := range runnables {
		go func() { errc <- r.Start(ctx) }()
	}
	var first error
	for range runnables {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if len(runnables) == 0 {
		<-ctx.Done()
	}
	m.factory.Shutdown()
	return first
}
