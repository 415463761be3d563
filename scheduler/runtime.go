package scheduler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// Parallelizer runs fn(i) for i in [0,pieces) on a bounded number of
// goroutines and returns when all calls returned or ctx is done.
type Parallelizer struct {
	workers int
}

// NewParallelizer returns a parallelizer with n workers; n <= 0 means
// GOMAXPROCS.
func NewParallelizer(n int) Parallelizer {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return Parallelizer{workers: n}
}

// Until runs fn over the pieces in chunks. It starts at most workers-1
// goroutines per call (the caller is one worker) and waits for them.
func (p Parallelizer) Until(ctx context.Context, pieces int, fn func(i int)) {
	p.UntilStop(ctx, pieces, func(i int) bool { fn(i); return true })
}

// UntilStop is Until for work that can end early: once fn returns false
// no worker starts another piece (pieces already running finish), so a
// search that has found what it wants does not walk the rest.
//
// The caller works alone for the first soloWork of the call and shares
// only what is left then: waking another goroutine and moving the data it
// reads to another core costs more than a short loop takes (measured on
// BenchmarkSchedulingBasic: at 5,000 nodes a cycle's filter and score
// loops run faster on one core than split over two), while long loops,
// such as inter-pod affinity over many pods, still use every worker.
func (p Parallelizer) UntilStop(ctx context.Context, pieces int, fn func(i int) bool) {
	if pieces <= 0 {
		return
	}
	workers := max(p.workers, 1)
	if workers == 1 {
		for i := 0; i < pieces; i++ {
			if ctx.Err() != nil || !fn(i) {
				return
			}
		}
		return
	}
	i := 0
	for deadline := time.Now().Add(soloWork); i < pieces; i++ {
		if i%soloCheckEvery == 0 && (ctx.Err() != nil || (i > 0 && time.Now().After(deadline))) {
			break
		}
		if !fn(i) {
			return
		}
	}
	if i >= pieces || ctx.Err() != nil {
		return
	}
	rest := pieces - i
	chunk := max(rest/(workers*4), 1)
	var next atomic.Int64
	next.Store(int64(i))
	var stopped atomic.Bool
	work := func() {
		for !stopped.Load() {
			start := int(next.Add(int64(chunk))) - chunk
			if start >= pieces || ctx.Err() != nil {
				return
			}
			for j := start; j < min(start+chunk, pieces); j++ {
				if !fn(j) {
					stopped.Store(true)
					return
				}
			}
		}
	}
	n := min(workers, (rest+chunk-1)/chunk)
	var wg sync.WaitGroup
	wg.Add(n - 1)
	for w := 0; w < n-1; w++ {
		go func() { defer wg.Done(); work() }()
	}
	work()
	wg.Wait()
}

// soloWork is how long UntilStop runs on the caller alone before it shares
// the rest; soloCheckEvery is how many pieces run between clock reads.
const (
	soloWork       = 200 * time.Microsecond
	soloCheckEvery = 32
)

// Binder writes a binding of pod to node (pods/binding on an API server,
// or a fake in simulations and benchmarks).
type Binder interface {
	Bind(ctx context.Context, pod *corev1.Pod, nodeName string) error
}

// BinderFunc adapts a function to Binder.
type BinderFunc func(ctx context.Context, pod *corev1.Pod, nodeName string) error

// Bind calls f.
func (f BinderFunc) Bind(ctx context.Context, pod *corev1.Pod, nodeName string) error {
	return f(ctx, pod, nodeName)
}

// FrameworkOptions are a Framework's collaborators.
type FrameworkOptions struct {
	// Snapshot is the snapshot plugins read; the Scheduler refreshes it
	// before each cycle. Nil means a new empty one.
	Snapshot *Snapshot
	// Binder is used when no Bind plugin binds. Required to bind.
	Binder Binder
	// Evictor deletes preemption victims; nil disables preemption.
	Evictor PodEvictor
	// Clock drives Permit timeouts; nil means the real clock.
	Clock clock.WithDelayedExecution
	// Parallelism bounds filter/score workers; 0 means GOMAXPROCS.
	Parallelism int
	// PriorityOf resolves a pod's priority; nil uses pod.spec.priority
	// (PriorityClasses are resolved by admission into spec.priority).
	PriorityOf func(*corev1.Pod) int32
}

// Framework runs one profile's plugins at the extension points. It is safe
// for concurrent use by one scheduling cycle plus binding cycles.
type Framework struct {
	profile    Profile
	queueSort  QueueSortPlugin
	preFilter  []PreFilterPlugin
	filter     []FilterPlugin
	postFilter []PostFilterPlugin
	preScore   []PreScorePlugin
	score      []ScorePlugin
	weights    []int64
	reserve    []ReservePlugin
	permit     []PermitPlugin
	preBind    []PreBindPlugin
	bind       []BindPlugin
	postBind   []PostBindPlugin
	plugins    map[string]Plugin
	// events holds the registrations of plugins with EnqueueExtensions;
	// a rejecting plugin missing here is helped by every event.
	events map[string][]ClusterEventWithHint

	snapshot    *Snapshot
	opts        FrameworkOptions
	par         Parallelizer
	waitingPods sync.Map // uid -> *waitingPod

	// Buffers reused by RunScorePlugins, which the one scheduling
	// goroutine calls.
	totalsBuf []int64
	scoreBuf  []NodeScore
}

var _ Handle = (*Framework)(nil)

// NewFramework builds the profile's plugins from reg (plus the profile's
// own Registry). Unknown or duplicate plugin names are errors.
func NewFramework(reg Registry, profile Profile, opts FrameworkOptions) (*Framework, error) {
	all := Registry{}
	if err := all.Merge(reg); err != nil {
		return nil, fmt.Errorf("profile %q: %w", profile.SchedulerName, err)
	}
	if err := all.Merge(profile.Registry); err != nil {
		return nil, fmt.Errorf("profile %q: %w", profile.SchedulerName, err)
	}
	if opts.Snapshot == nil {
		opts.Snapshot = NewEmptySnapshot()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.PriorityOf == nil {
		opts.PriorityOf = PodPriority
	}
	f := &Framework{profile: profile, snapshot: opts.Snapshot, opts: opts, par: NewParallelizer(opts.Parallelism), plugins: map[string]Plugin{}}
	for _, pc := range profile.Plugins {
		if _, dup := f.plugins[pc.Name]; dup {
			return nil, fmt.Errorf("profile %q: plugin %q: %w", profile.SchedulerName, pc.Name, ErrDuplicatePlugin)
		}
		factory, ok := all[pc.Name]
		if !ok {
			return nil, fmt.Errorf("profile %q: plugin %q: %w", profile.SchedulerName, pc.Name, ErrUnknownPlugin)
		}
		p, err := factory(pc.Args, f)
		if err != nil {
			return nil, fmt.Errorf("profile %q: plugin %q: %w", profile.SchedulerName, pc.Name, err)
		}
		f.plugins[pc.Name] = p
		if x, ok := p.(EnqueueExtensions); ok {
			if f.events == nil {
				f.events = map[string][]ClusterEventWithHint{}
			}
			f.events[pc.Name] = x.EventsToRegister()
		}
		if qs, ok := p.(QueueSortPlugin); ok {
			if f.queueSort != nil {
				return nil, fmt.Errorf("profile %q: plugins %q and %q both sort the queue", profile.SchedulerName, f.queueSort.Name(), p.Name())
			}
			f.queueSort = qs
		}
		if x, ok := p.(PreFilterPlugin); ok {
			f.preFilter = append(f.preFilter, x)
		}
		if x, ok := p.(FilterPlugin); ok {
			f.filter = append(f.filter, x)
		}
		if x, ok := p.(PostFilterPlugin); ok {
			f.postFilter = append(f.postFilter, x)
		}
		if x, ok := p.(PreScorePlugin); ok {
			f.preScore = append(f.preScore, x)
		}
		if x, ok := p.(ScorePlugin); ok {
			w := pc.Weight
			if w == 0 {
				w = 1
			}
			f.score = append(f.score, x)
			f.weights = append(f.weights, w)
		}
		if x, ok := p.(ReservePlugin); ok {
			f.reserve = append(f.reserve, x)
		}
		if x, ok := p.(PermitPlugin); ok {
			f.permit = append(f.permit, x)
		}
		if x, ok := p.(PreBindPlugin); ok {
			f.preBind = append(f.preBind, x)
		}
		if x, ok := p.(BindPlugin); ok {
			f.bind = append(f.bind, x)
		}
		if x, ok := p.(PostBindPlugin); ok {
			f.postBind = append(f.postBind, x)
		}
	}
	return f, nil
}

// ProfileName returns the profile's scheduler name.
func (f *Framework) ProfileName() string { return f.profile.SchedulerName }

// Plugin returns an enabled plugin by name, or nil.
func (f *Framework) Plugin(name string) Plugin { return f.plugins[name] }

// SnapshotSharedLister implements Handle.
func (f *Framework) SnapshotSharedLister() NodeInfoLister { return f.snapshot }

// Snapshot returns the framework's snapshot.
func (f *Framework) Snapshot() *Snapshot { return f.snapshot }

// Evictor implements Handle.
func (f *Framework) Evictor() PodEvictor { return f.opts.Evictor }

// Parallelizer implements Handle.
func (f *Framework) Parallelizer() Parallelizer { return f.par }

// PriorityOf implements Handle.
func (f *Framework) PriorityOf(pod *corev1.Pod) int32 { return f.opts.PriorityOf(pod) }

// PodPriority returns pod.spec.priority, 0 if unset.
func PodPriority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// QueueingHint reports whether ev may make schedulable a pod that the
// plugins named in rejectors turned down: true if some rejector registered
// a matching event and its hint (if any) answers HintQueue or fails, or if
// some rejector registered nothing (it did not implement
// EnqueueExtensions), or if rejectors is empty (the rejection is not
// attributed). Wildcard events help every pod.
func (f *Framework) QueueingHint(pod *corev1.Pod, rejectors sets.Set[string], ev ClusterEvent, oldObj, newObj any) bool {
	if len(rejectors) == 0 || ev.Resource == WildCardResource {
		return true
	}
	for name := range rejectors {
		regs, ok := f.events[name]
		if !ok {
			return true
		}
		for _, r := range regs {
			if !r.Event.Match(ev) {
				continue
			}
			if r.QueueingHintFn == nil {
				return true
			}
			if h, err := r.QueueingHintFn(pod, oldObj, newObj); err != nil || h == HintQueue {
				return true
			}
		}
	}
	return false
}

// QueueSortLess orders the queue with the profile's QueueSort plugin, or by
// priority (higher first) then queue time without one.
func (f *Framework) QueueSortLess(a, b *QueuedPodInfo) bool {
	if f.queueSort != nil {
		return f.queueSort.Less(a, b)
	}
	pa, pb := f.opts.PriorityOf(a.Pod), f.opts.PriorityOf(b.Pod)
	return pa > pb || (pa == pb && a.Timestamp.Before(b.Timestamp))
}

// RunPreFilterPlugins runs PreFilter plugins; the results' node sets are
// intersected.
func (f *Framework) RunPreFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod) (*PreFilterResult, *Status) {
	var result *PreFilterResult
	var skip sets.Set[string]
	nodes := f.snapshot.List()
	for _, p := range f.preFilter {
		r, s := p.PreFilter(ctx, state, pod, nodes)
		if s.IsSkip() {
			if skip == nil {
				skip = sets.New[string]()
			}
			skip.Insert(p.Name())
			continue
		}
		if !s.IsSuccess() {
			return nil, s.WithPlugin(p.Name())
		}
		if r != nil && r.NodeNames != nil {
			if result == nil {
				result = &PreFilterResult{NodeNames: r.NodeNames.Clone()}
			} else {
				result.NodeNames = result.NodeNames.Intersection(r.NodeNames)
			}
			if result.NodeNames.Len() == 0 {
				return result, NewStatus(UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) ["+p.Name()+"] simultaneously").WithPlugin(p.Name())
			}
		}
	}
	state.filters = make([]FilterPlugin, 0, len(f.filter))
	for _, p := range f.filter {
		if !skip.Has(p.Name()) {
			state.filters = append(state.filters, p)
		}
	}
	return result, nil
}

// RunPreFilterExtensionAddPod implements Handle.
func (f *Framework) RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, p := range f.preFilter {
		if ext, ok := p.(PreFilterExtensions); ok {
			if s := ext.AddPod(ctx, state, podToSchedule, podToAdd, nodeInfo); !s.IsSuccess() {
				return s.WithPlugin(p.Name())
			}
		}
	}
	return nil
}

// RunPreFilterExtensionRemovePod implements Handle.
func (f *Framework) RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status {
	for _, p := range f.preFilter {
		if ext, ok := p.(PreFilterExtensions); ok {
			if s := ext.RemovePod(ctx, state, podToSchedule, podToRemove, nodeInfo); !s.IsSuccess() {
				return s.WithPlugin(p.Name())
			}
		}
	}
	return nil
}

// RunFilterPlugins implements Handle: the first rejection wins.
func (f *Framework) RunFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeInfo *NodeInfo) *Status {
	filters := state.filters
	if filters == nil {
		filters = f.filter
	}
	for _, p := range filters {
		if s := p.Filter(ctx, state, pod, nodeInfo); !s.IsSuccess() {
			if !s.IsRejected() {
				s = AsStatus(fmt.Errorf("filter %q on node %q: %w", p.Name(), nodeInfo.Name(), s.AsError()))
			}
			return s.WithPlugin(p.Name())
		}
	}
	return nil
}

// RunPostFilterPlugins runs PostFilter plugins until one succeeds.
func (f *Framework) RunPostFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, filtered map[string]*Status) (*PostFilterResult, *Status) {
	last := NewStatus(Unschedulable, "no PostFilter plugin")
	for _, p := range f.postFilter {
		r, s := p.PostFilter(ctx, state, pod, filtered)
		if s.IsSuccess() {
			return r, nil
		}
		if s.Code() == Error {
			return nil, s.WithPlugin(p.Name())
		}
		last = s.WithPlugin(p.Name())
	}
	return nil, last
}

// HasScorePlugins reports whether any Score plugin is enabled.
func (f *Framework) HasScorePlugins() bool { return len(f.score) > 0 }

// RunPreScorePlugins runs PreScore plugins.
func (f *Framework) RunPreScorePlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status {
	var skip sets.Set[string]
	for _, p := range f.preScore {
		s := p.PreScore(ctx, state, pod, nodes)
		if s.IsSkip() {
			if skip == nil {
				skip = sets.New[string]()
			}
			skip.Insert(p.Name())
			continue
		}
		if !s.IsSuccess() {
			return AsStatus(fmt.Errorf("prescore %q: %w", p.Name(), s.AsError())).WithPlugin(p.Name())
		}
	}
	state.scorers = make([]int, 0, len(f.score))
	for i, p := range f.score {
		if !skip.Has(p.Name()) {
			state.scorers = append(state.scorers, i)
		}
	}
	return nil
}

// RunScorePlugins scores the nodes with every Score plugin, normalizes, and
// returns the weighted totals in node order. The result is valid until the
// next call; calls must not overlap (the scheduling cycle is sequential).
func (f *Framework) RunScorePlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) ([]int64, *Status) {
	if cap(f.totalsBuf) < len(nodes) {
		f.totalsBuf = make([]int64, len(nodes))
	}
	totals := f.totalsBuf[:len(nodes)]
	clear(totals)
	active := state.scorers
	if active == nil {
		for i := range f.score {
			active = append(active, i)
		}
	}
	if len(active) == 0 {
		return totals, nil
	}
	scores := make([][]NodeScore, len(active))
	if cap(f.scoreBuf) < len(active)*len(nodes) {
		f.scoreBuf = make([]NodeScore, len(active)*len(nodes))
	}
	buf := f.scoreBuf[:len(active)*len(nodes)]
	for j := range active {
		scores[j] = buf[j*len(nodes) : (j+1)*len(nodes) : (j+1)*len(nodes)]
	}
	var errMu sync.Mutex
	var firstErr *Status
	var failed atomic.Bool
	f.par.UntilStop(ctx, len(nodes), func(n int) bool {
		if failed.Load() {
			return false
		}
		name := nodes[n].Name()
		for j, i := range active {
			s, st := f.score[i].Score(ctx, state, pod, nodes[n])
			if !st.IsSuccess() {
				errMu.Lock()
				if firstErr == nil {
					firstErr = AsStatus(fmt.Errorf("score %q on node %q: %w", f.score[i].Name(), name, st.AsError()))
				}
				errMu.Unlock()
				failed.Store(true)
				return false
			}
			scores[j][n] = NodeScore{Name: name, Score: s}
		}
		return true
	})
	if firstErr != nil {
		return nil, firstErr
	}
	for j, i := range active {
		p := f.score[i]
		if ext := p.ScoreExtensions(); ext != nil {
			if st := ext.NormalizeScore(ctx, state, pod, scores[j]); !st.IsSuccess() {
				return nil, AsStatus(fmt.Errorf("normalize %q: %w", p.Name(), st.AsError()))
			}
		}
		w := f.weights[i]
		for n := range nodes {
			s := scores[j][n].Score
			if s > MaxNodeScore || s < MinNodeScore {
				return nil, AsStatus(fmt.Errorf("plugin %q scored node %q %d, outside [%d,%d]", p.Name(), nodes[n].Name(), s, MinNodeScore, MaxNodeScore))
			}
			totals[n] += s * w
		}
	}
	return totals, nil
}

// RunReservePlugins runs Reserve; on failure the caller runs Unreserve.
func (f *Framework) RunReservePlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	for _, p := range f.reserve {
		if s := p.Reserve(ctx, state, pod, nodeName); !s.IsSuccess() {
			return s.WithPlugin(p.Name())
		}
	}
	return nil
}

// RunUnreservePlugins runs Unreserve in reverse order.
func (f *Framework) RunUnreservePlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) {
	for i := len(f.reserve) - 1; i >= 0; i-- {
		f.reserve[i].Unreserve(ctx, state, pod, nodeName)
	}
}

// WaitingPod is a pod held by Permit plugins.
type WaitingPod interface {
	GetPod() *corev1.Pod
	// Allow lets the named plugin's hold go; the pod binds once every
	// waiting plugin allowed it.
	Allow(plugin string)
	// Reject fails the pod's binding.
	Reject(plugin, msg string)
}

type waitingPod struct {
	pod     *corev1.Pod
	mu      sync.Mutex
	pending map[string]clock.Timer
	done    chan *Status
}

func (w *waitingPod) GetPod() *corev1.Pod { return w.pod }

func (w *waitingPod) Allow(plugin string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.pending[plugin]; ok {
		t.Stop()
		delete(w.pending, plugin)
	}
	if len(w.pending) == 0 {
		select {
		case w.done <- nil:
		default:
		}
	}
}

func (w *waitingPod) Reject(plugin, msg string) {
	select {
	case w.done <- NewStatus(Unschedulable, msg).WithPlugin(plugin):
	default:
	}
}

// GetWaitingPod implements Handle.
func (f *Framework) GetWaitingPod(uid string) WaitingPod {
	if w, ok := f.waitingPods.Load(uid); ok {
		return w.(*waitingPod)
	}
	return nil
}

// RunPermitPlugins runs Permit. If some plugin says Wait the pod is held
// and Wait is returned; WaitOnPermit then blocks for the outcome.
func (f *Framework) RunPermitPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	waits := map[string]time.Duration{}
	for _, p := range f.permit {
		s, d := p.Permit(ctx, state, pod, nodeName)
		if s.IsWait() {
			waits[p.Name()] = d
			continue
		}
		if !s.IsSuccess() {
			return s.WithPlugin(p.Name())
		}
	}
	if len(waits) == 0 {
		return nil
	}
	w := &waitingPod{pod: pod, pending: map[string]clock.Timer{}, done: make(chan *Status, 1)}
	w.mu.Lock()
	for name, d := range waits {
		name := name
		w.pending[name] = f.opts.Clock.AfterFunc(d, func() { w.Reject(name, "rejected due to timeout after waiting "+d.String()+" at plugin "+name) })
	}
	w.mu.Unlock()
	f.waitingPods.Store(string(pod.UID), w)
	return NewStatus(Wait)
}

// WaitOnPermit blocks until a held pod is allowed or rejected (or ctx is
// done). It returns at once for pods not held.
func (f *Framework) WaitOnPermit(ctx context.Context, pod *corev1.Pod) *Status {
	v, ok := f.waitingPods.Load(string(pod.UID))
	if !ok {
		return nil
	}
	defer f.waitingPods.Delete(string(pod.UID))
	w := v.(*waitingPod)
	// Timers are stopped here, not in the timer callback: a fake clock
	// runs callbacks under its own lock.
	defer func() {
		w.mu.Lock()
		for _, t := range w.pending {
			t.Stop()
		}
		w.mu.Unlock()
	}()
	select {
	case s := <-w.done:
		return s
	case <-ctx.Done():
		return AsStatus(ctx.Err())
	}
}

// RunPreBindPlugins runs PreBind.
func (f *Framework) RunPreBindPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	for _, p := range f.preBind {
		if s := p.PreBind(ctx, state, pod, nodeName); !s.IsSuccess() {
			return s.WithPlugin(p.Name())
		}
	}
	return nil
}

// ErrNoBinder is returned when nothing can bind a pod.
var ErrNoBinder = errors.New("no bind plugin bound the pod and no Binder is configured")

// RunBindPlugins runs Bind plugins until one does not Skip; without one the
// framework's Binder binds.
func (f *Framework) RunBindPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status {
	for _, p := range f.bind {
		s := p.Bind(ctx, state, pod, nodeName)
		if s.IsSkip() {
			continue
		}
		return s.WithPlugin(p.Name())
	}
	if f.opts.Binder == nil {
		return AsStatus(ErrNoBinder)
	}
	if err := f.opts.Binder.Bind(ctx, pod, nodeName); err != nil {
		return AsStatus(fmt.Errorf("bind pod %q to node %q: %w", pod.Namespace+"/"+pod.Name, nodeName, err))
	}
	return nil
}

// RunPostBindPlugins runs PostBind.
func (f *Framework) RunPostBindPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) {
	for _, p := range f.postBind {
		p.PostBind(ctx, state, pod, nodeName)
	}
}
