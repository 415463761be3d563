package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/internal/restconfig"
)

// The scheduler's client-side rate limit when its configuration sets none:
// kube-scheduler's clientConnection defaults. client-go's own (5 and 10)
// would bind a Deployment of 100 replicas in 20 seconds.
const (
	DefaultClientQPS   = 50
	DefaultClientBurst = 100
)

// ClientConfig returns a copy of cfg for a scheduler's client: user agent
// gantry-scheduler unless cfg names one, DefaultClientQPS and
// DefaultClientBurst unless cfg sets a rate (QPS -1: no limit).
func ClientConfig(cfg *rest.Config) *rest.Config {
	return restconfig.WithDefaults(cfg, "gantry-scheduler", DefaultClientQPS, DefaultClientBurst)
}

// LeaderElection configures a coordination.k8s.io Lease lock so that
// several replicas can run and one schedules.
type LeaderElection struct {
	// Namespace and Name of the Lease (default kube-system/gantry-scheduler).
	Namespace, Name string
	// Identity of this replica (default hostname plus a random suffix).
	Identity string
	// LeaseDuration, RenewDeadline, RetryPeriod default to 15s, 10s, 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// RunnerClock is what a Runner needs of a clock: tickers and timers
// (clock.RealClock and testing.FakeClock satisfy it).
type RunnerClock interface {
	clock.WithTicker
	AfterFunc(d time.Duration, f func()) clock.Timer
}

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Registry and Profiles: as in Options.
	Registry Registry
	Profiles []Profile
	// LeaderElection, if set, makes Run campaign for a Lease first.
	LeaderElection *LeaderElection
	// Clock is the source of time; nil means the real clock.
	Clock RunnerClock
	// Parallelism, Seed, PriorityOf, InitialBackoff, MaxBackoff: as in
	// Options. AssumedPodTTL defaults to 30s.
	Parallelism                int
	Seed                       uint64
	PriorityOf                 func(*corev1.Pod) int32
	InitialBackoff, MaxBackoff time.Duration
	AssumedPodTTL              time.Duration
	// FlushPeriod is how often back-off and expired assumed pods are
	// processed (default 200ms).
	FlushPeriod time.Duration
	// Metrics receives the scheduler's collectors; nil means a new
	// registry (served by Handler either way).
	Metrics *prometheus.Registry
	// OnResult, if set, is called after each attempt's events and metrics
	// (from the scheduling or a binding goroutine).
	OnResult func(Result)
}

// Runner is a live scheduler: client-go informers feed the Scheduler's
// cache and queue with nodes and pods (pods with an empty spec.nodeName
// whose spec.schedulerName one of the profiles serves), bindings go
// through pods/binding, preemption deletes victims, outcomes become Events
// (Scheduled, FailedScheduling) and Prometheus metrics. Run blocks; Handler
// serves /healthz and /metrics and is safe to use concurrently.
type Runner struct {
	opts    RunnerOptions
	sched   *Scheduler
	metrics *schedMetrics
	reg     *prometheus.Registry
	leading atomic.Bool
	synced  atomic.Bool
	rec     record.EventRecorder
	bcast   record.EventBroadcaster
}

// NewRunner validates opts and builds the scheduler.
func NewRunner(opts RunnerOptions) (*Runner, error) {
	if opts.Client == nil {
		return nil, errors.New("scheduler runner: Client is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.AssumedPodTTL == 0 {
		opts.AssumedPodTTL = 30 * time.Second
	}
	if opts.FlushPeriod <= 0 {
		opts.FlushPeriod = 200 * time.Millisecond
	}
	r := &Runner{opts: opts, reg: opts.Metrics}
	if r.reg == nil {
		r.reg = prometheus.NewRegistry()
	}
	r.bcast = record.NewBroadcaster()
	r.rec = r.bcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "gantry-scheduler"})
	s, err := New(Options{
		Registry: opts.Registry, Profiles: opts.Profiles,
		Binder: BinderFunc(r.bind), Evictor: evictorFunc(r.evict),
		Clock: opts.Clock, Parallelism: opts.Parallelism, Seed: opts.Seed,
		AssumedPodTTL: opts.AssumedPodTTL, InitialBackoff: opts.InitialBackoff, MaxBackoff: opts.MaxBackoff,
		AsyncBinding: true, PriorityOf: opts.PriorityOf, OnResult: r.onResult,
	})
	if err != nil {
		return nil, err
	}
	r.sched = s
	r.metrics = newSchedMetrics(s.Queue)
	if err := r.metrics.register(r.reg); err != nil {
		return nil, fmt.Errorf("scheduler runner: metrics: %w", err)
	}
	return r, nil
}

// Scheduler returns the underlying scheduler.
func (r *Runner) Scheduler() *Scheduler { return r.sched }

// IsLeader reports whether this replica currently schedules.
func (r *Runner) IsLeader() bool { return r.leading.Load() }

// Handler serves /healthz (200 once informers synced) and /metrics.
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.synced.Load() {
			http.Error(w, "informers not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{}))
	return mux
}

type evictorFunc func(ctx context.Context, victim, preemptor *corev1.Pod) error

func (f evictorFunc) EvictPod(ctx context.Context, victim, preemptor *corev1.Pod) error {
	return f(ctx, victim, preemptor)
}

func (r *Runner) bind(ctx context.Context, pod *corev1.Pod, node string) error {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	return r.opts.Client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
}

func (r *Runner) evict(ctx context.Context, victim, preemptor *corev1.Pod) error {
	r.rec.Eventf(victim, corev1.EventTypeNormal, "Preempted", "Preempted by pod %s", preemptor.UID)
	uid := victim.UID
	err := r.opts.Client.CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil {
		return fmt.Errorf("pod %q: %w", victim.Namespace+"/"+victim.Name, err)
	}
	return nil
}

func (r *Runner) onResult(res Result) {
	if r.opts.OnResult != nil {
		defer r.opts.OnResult(res)
	}
	r.metrics.observe(res)
	switch {
	case res.Status.IsSuccess():
		r.rec.Eventf(res.Pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", res.Pod.Namespace, res.Pod.Name, res.NodeName)
	default:
		msg := res.Status.Message()
		if res.FitError != nil {
			msg = res.FitError.Error()
		}
		r.rec.Eventf(res.Pod, corev1.EventTypeWarning, "FailedScheduling", "%s", msg)
		if res.NominatedNodeName != "" {
			patch, _ := json.Marshal(map[string]any{"status": map[string]any{"nominatedNodeName": res.NominatedNodeName}})
			_, err := r.opts.Client.CoreV1().Pods(res.Pod.Namespace).Patch(context.Background(), res.Pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
			if err != nil {
				slog.Warn("scheduler: set nominatedNodeName", "pod", res.Pod.Namespace+"/"+res.Pod.Name, "err", err)
			}
		}
	}
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// addInformerHandlers feeds the cache and queue from f's pod and node
// informers. The returned functions report when each handler has seen its
// informer's initial list.
func (r *Runner) addInformerHandlers(f informers.SharedInformerFactory) ([]cache.InformerSynced, error) {
	s := r.sched
	podFromObj := func(obj any) *corev1.Pod {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		p, _ := obj.(*corev1.Pod)
		return p
	}
	podReg, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			p := podFromObj(obj)
			switch {
			case p == nil || terminal(p):
			case p.Spec.NodeName != "":
				s.Cache.AddPod(p)
				s.Queue.OnEvent(EventAssignedPodAdd, nil, p)
			case s.Responsible(p) && p.DeletionTimestamp == nil:
				s.Queue.Add(p)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, p := podFromObj(oldObj), podFromObj(newObj)
			if p == nil {
				return
			}
			switch {
			case p.Spec.NodeName != "" && terminal(p):
				if o != nil && terminal(o) {
					return
				}
				s.Cache.RemovePod(p)
				s.Queue.OnEvent(EventAssignedPodDelete, p, nil)
			case p.Spec.NodeName != "":
				s.Cache.AddPod(p)
				if o == nil || o.Spec.NodeName == "" {
					// Bound: it leaves the queue and is a new assigned pod.
					s.Queue.Delete(p)
					s.Queue.OnEvent(EventAssignedPodAdd, nil, p)
				} else {
					s.Queue.OnEvent(AssignedPodUpdateEvent(o, p), o, p)
				}
			case s.Responsible(p) && p.DeletionTimestamp == nil:
				s.Queue.Update(o, p)
			default:
				s.Queue.Delete(p)
			}
		},
		DeleteFunc: func(obj any) {
			p := podFromObj(obj)
			if p == nil {
				return
			}
			if p.Spec.NodeName == "" {
				s.Queue.Delete(p)
				s.ClearNomination(p)
				return
			}
			s.Cache.RemovePod(p)
			if !terminal(p) {
				s.Queue.OnEvent(EventAssignedPodDelete, p, nil)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	nodeFromObj := func(obj any) *corev1.Node {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		n, _ := obj.(*corev1.Node)
		return n
	}
	nodeReg, err := f.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n := nodeFromObj(obj); n != nil {
				s.Cache.AddNode(n)
				s.Queue.OnEvent(EventNodeAdd, nil, n)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			o, n := nodeFromObj(oldObj), nodeFromObj(obj)
			if n == nil {
				return
			}
			s.Cache.AddNode(n)
			if o == nil {
				s.Queue.OnEvent(EventNodeAdd, nil, n)
				return
			}
			// A heartbeat (conditions, images) is no event.
			s.Queue.OnEvent(NodeUpdateEvent(o, n), o, n)
		},
		DeleteFunc: func(obj any) {
			if n := nodeFromObj(obj); n != nil {
				s.Cache.RemoveNode(n)
				s.Queue.OnEvent(EventNodeDelete, n, nil)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return []cache.InformerSynced{podReg.HasSynced, nodeReg.HasSynced}, nil
}

// Run starts informers, campaigns for leadership if configured, and
// schedules while leading. It blocks until ctx is done and returns nil
// then, or an error if it could not start.
func (r *Runner) Run(ctx context.Context) error {
	r.bcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: r.opts.Client.CoreV1().Events("")})
	defer r.bcast.Shutdown()
	f := informers.NewSharedInformerFactory(r.opts.Client, 0)
	handlersSynced, err := r.addInformerHandlers(f)
	if err != nil {
		return fmt.Errorf("scheduler runner: informers: %w", err)
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("scheduler runner: %v informer did not sync", typ)
		}
	}
	// The informers' stores are full; wait until the handlers have put
	// the initial lists into the cache too, so that the first pods do
	// not meet an empty cluster.
	if !cache.WaitForCacheSync(ctx.Done(), handlersSynced...) {
		return nil
	}
	r.synced.Store(true)
	if r.opts.LeaderElection == nil {
		r.leading.Store(true)
		r.schedule(ctx)
		return nil
	}
	le := *r.opts.LeaderElection
	if le.Namespace == "" {
		le.Namespace = metav1.NamespaceSystem
	}
	if le.Name == "" {
		le.Name = "gantry-scheduler"
	}
	if le.Identity == "" {
		host, _ := os.Hostname()
		le.Identity = fmt.Sprintf("%s_%d", host, time.Now().UnixNano())
	}
	if le.LeaseDuration == 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = 10 * time.Second
	}
	if le.RetryPeriod == 0 {
		le.RetryPeriod = 2 * time.Second
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     r.opts.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity, EventRecorder: r.rec},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: le.LeaseDuration, RenewDeadline: le.RenewDeadline, RetryPeriod: le.RetryPeriod,
		ReleaseOnCancel: true, Name: le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				r.leading.Store(true)
				r.schedule(ctx)
			},
			OnStoppedLeading: func() { r.leading.Store(false) },
		},
	})
	if err != nil {
		return fmt.Errorf("scheduler runner: leader election: %w", err)
	}
	// Run returns when leadership is lost; campaign again until ctx ends.
	for ctx.Err() == nil {
		elector.Run(ctx)
	}
	return nil
}

// schedule runs the loop plus the periodic flushes until ctx is done.
func (r *Runner) schedule(ctx context.Context) {
	s := r.sched
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := r.opts.Clock.NewTicker(r.opts.FlushPeriod)
		defer t.Stop()
		lastLeftover := r.opts.Clock.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				s.Queue.FlushBackoffCompleted()
				for _, p := range s.Cache.CleanupAssumedPods() {
					slog.Warn("scheduler: assumed pod expired", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
				}
				if r.opts.Clock.Since(lastLeftover) > 30*time.Second {
					s.Queue.FlushUnschedulableLeftover()
					lastLeftover = r.opts.Clock.Now()
				}
			}
		}
	}()
	s.Run(ctx)
	<-done
}

type schedMetrics struct {
	attempts *prometheus.CounterVec
	e2e      *prometheus.HistogramVec
	attempt  *prometheus.HistogramVec
	pending  *prometheus.GaugeVec
	q        *Queue
}

func newSchedMetrics(q *Queue) *schedMetrics {
	return &schedMetrics{
		q: q,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gantry", Subsystem: "scheduler", Name: "schedule_attempts_total",
			Help: "Scheduling attempts by result (scheduled, unschedulable, error) and profile.",
		}, []string{"result", "profile"}),
		e2e: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gantry", Subsystem: "scheduler", Name: "e2e_scheduling_duration_seconds",
			Help:    "Time from a pod entering the queue to being bound.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"profile"}),
		attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gantry", Subsystem: "scheduler", Name: "scheduling_attempt_duration_seconds",
			Help:    "Duration of one scheduling attempt (scheduling and binding cycle).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"result", "profile"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "gantry", Subsystem: "scheduler", Name: "pending_pods",
			Help: "Pods in the scheduling queue by part (active, backoff, unschedulable).",
		}, []string{"queue"}),
	}
}

func (m *schedMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.attempts, m.e2e, m.attempt, m} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Describe and Collect make the queue depth a live gauge.
func (m *schedMetrics) Describe(ch chan<- *prometheus.Desc) { m.pending.Describe(ch) }

func (m *schedMetrics) Collect(ch chan<- prometheus.Metric) {
	a, b, u := m.q.Len()
	m.pending.WithLabelValues("active").Set(float64(a))
	m.pending.WithLabelValues("backoff").Set(float64(b))
	m.pending.WithLabelValues("unschedulable").Set(float64(u))
	m.pending.Collect(ch)
}

func resultLabel(res Result) string {
	switch {
	case res.Status.IsSuccess():
		return "scheduled"
	case res.Status.IsRejected():
		return "unschedulable"
	}
	return "error"
}

func (m *schedMetrics) observe(res Result) {
	l := resultLabel(res)
	m.attempts.WithLabelValues(l, res.Profile).Inc()
	m.attempt.WithLabelValues(l, res.Profile).Observe(res.End.Sub(res.Start).Seconds())
	if l == "scheduled" {
		m.e2e.WithLabelValues(res.Profile).Observe(res.End.Sub(res.QueuedAt).Seconds())
	}
}
