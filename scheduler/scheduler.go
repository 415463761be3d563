package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// DefaultSchedulerName is the schedulerName of pods that name none.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Options configure a Scheduler.
type Options struct {
	// Registry holds the plugin factories the profiles may name.
	Registry Registry
	// Profiles are served by schedulerName; at least one is required and
	// names must be unique.
	Profiles []Profile
	// Binder binds pods (pods/binding, or a fake). Required.
	Binder Binder
	// Evictor deletes preemption victims; nil disables eviction.
	Evictor PodEvictor
	// Clock is the only source of time; nil means the real clock.
	Clock clock.WithDelayedExecution
	// Parallelism bounds filter/score workers; 0 means GOMAXPROCS.
	Parallelism int
	// Seed seeds the tie-break among equally scored nodes.
	Seed uint64
	// AssumedPodTTL: see CacheOptions; 0 means assumed pods never expire.
	AssumedPodTTL time.Duration
	// InitialBackoff, MaxBackoff: see QueueOptions (1s, 10s).
	InitialBackoff, MaxBackoff time.Duration
	// AsyncBinding runs each binding cycle on its own goroutine, as a live
	// scheduler does. False binds inline (deterministic; simulation).
	AsyncBinding bool
	// PriorityOf resolves priorities; nil uses pod.spec.priority.
	PriorityOf func(*corev1.Pod) int32
	// OnResult, if set, is called once per scheduling attempt (from the
	// scheduling or binding goroutine).
	OnResult func(Result)
}

// Result is the outcome of one scheduling attempt.
type Result struct {
	Pod      *corev1.Pod
	Profile  string
	NodeName string // set on success
	// Status is nil on success; otherwise why the pod was not scheduled.
	Status *Status
	// FitError describes per-node rejections when no node fitted.
	FitError *FitError
	// NominatedNodeName is set when preemption freed a node.
	NominatedNodeName string
	Attempts          int
	// QueuedAt is when the pod first entered the queue; Start and End
	// bracket this attempt (both cycles) on Options.Clock.
	QueuedAt, Start, End time.Time
	// EvaluatedNodes and FeasibleNodes count filtering work.
	EvaluatedNodes, FeasibleNodes int
}

// FitError is returned when no node fits a pod.
type FitError struct {
	Pod         *corev1.Pod
	NumAllNodes int
	// PreFilterMsg is set when a PreFilter plugin rejected the pod, and
	// PreFilterPlugin names it.
	PreFilterMsg, PreFilterPlugin string
	// NodeToStatus maps each rejected node to its status.
	NodeToStatus map[string]*Status
}

// Error formats as Kubernetes does: "0/3 nodes are available: 1
// Insufficient cpu, 2 node(s) had untolerated taint {k: v}."
func (e *FitError) Error() string {
	var b strings.Builder
	b.WriteString("0/" + strconv.Itoa(e.NumAllNodes) + " nodes are available")
	if e.PreFilterMsg != "" {
		b.WriteString(": " + e.PreFilterMsg + ".")
		return b.String()
	}
	counts := map[string]int{}
	for _, s := range e.NodeToStatus {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	reasons := make([]string, 0, len(counts))
	for r, n := range counts {
		reasons = append(reasons, strconv.Itoa(n)+" "+r)
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		b.WriteString(": " + strings.Join(reasons, ", "))
	}
	b.WriteString(".")
	return b.String()
}

// ErrNoNodesAvailable is returned when the cluster has no nodes.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Scheduler runs scheduling cycles: pop a pod, filter and score nodes with
// its profile, assume it in the cache, and bind it. It starts goroutines
// only to parallelise filtering/scoring (and for binding with
// AsyncBinding); Run blocks. The cache and queue are exported for the code
// that feeds them (informers, a simulator, a benchmark).
type Scheduler struct {
	Cache *Cache
	Queue *Queue

	opts       Options
	frameworks map[string]*Framework
	snapshot   *Snapshot

	mu                 sync.Mutex // guards rand and nextStartNodeIndex (one cycle at a time)
	rand               *rand.Rand
	nextStartNodeIndex int
	statusBuf          []*Status
	feasibleBuf        []*NodeInfo
	statusDirty        bool // statusBuf holds statuses of the last cycle
	bindWG             sync.WaitGroup

	nomMu     sync.Mutex
	nominated map[string][]*PodInfo // node -> pods nominated to it by preemption
	nomNode   map[string]string     // pod UID -> node
}

// nominate records that preemption freed node for pod: lower-priority
// pods then see the pod as if it ran there until it is scheduled or
// deleted.
func (s *Scheduler) nominate(pod *corev1.Pod, node string) {
	s.ClearNomination(pod)
	s.nomMu.Lock()
	defer s.nomMu.Unlock()
	s.nominated[node] = append(s.nominated[node], NewPodInfo(pod))
	s.nomNode[string(pod.UID)] = node
}

// ClearNomination forgets a pod's nominated node (it was scheduled or
// deleted).
func (s *Scheduler) ClearNomination(pod *corev1.Pod) {
	s.nomMu.Lock()
	defer s.nomMu.Unlock()
	node, ok := s.nomNode[string(pod.UID)]
	if !ok {
		return
	}
	delete(s.nomNode, string(pod.UID))
	list := s.nominated[node]
	for i, pi := range list {
		if pi.Pod.UID == pod.UID {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.nominated, node)
	} else {
		s.nominated[node] = list
	}
}

// nominatedSnapshot copies the nominations for one cycle.
func (s *Scheduler) nominatedSnapshot() map[string][]*PodInfo {
	s.nomMu.Lock()
	defer s.nomMu.Unlock()
	if len(s.nominated) == 0 {
		return nil
	}
	m := make(map[string][]*PodInfo, len(s.nominated))
	for k, v := range s.nominated {
		m[k] = append([]*PodInfo(nil), v...)
	}
	return m
}

// New validates opts and builds every profile's framework.
func New(opts Options) (*Scheduler, error) {
	if len(opts.Profiles) == 0 {
		return nil, errors.New("scheduler: at least one profile is required")
	}
	if opts.Binder == nil {
		return nil, errors.New("scheduler: Options.Binder is required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.PriorityOf == nil {
		opts.PriorityOf = PodPriority
	}
	s := &Scheduler{
		opts:       opts,
		frameworks: map[string]*Framework{},
		snapshot:   NewEmptySnapshot(),
		rand:       rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		nominated:  map[string][]*PodInfo{},
		nomNode:    map[string]string{},
	}
	s.Cache = NewCache(CacheOptions{Now: opts.Clock.Now, AssumedPodTTL: opts.AssumedPodTTL})
	var first *Framework
	for _, p := range opts.Profiles {
		name := p.SchedulerName
		if name == "" {
			return nil, errors.New("scheduler: a profile has no SchedulerName")
		}
		if _, dup := s.frameworks[name]; dup {
			return nil, fmt.Errorf("scheduler: profile %q defined twice", name)
		}
		fw, err := NewFramework(opts.Registry, p, FrameworkOptions{
			Snapshot: s.snapshot, Binder: opts.Binder, Evictor: opts.Evictor,
			Clock: opts.Clock, Parallelism: opts.Parallelism, PriorityOf: opts.PriorityOf,
		})
		if err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
		s.frameworks[name] = fw
		if first == nil {
			first = fw
		}
	}
	s.Queue = NewQueue(QueueOptions{
		Now: opts.Clock.Now, Less: first.QueueSortLess, InitialBackoff: opts.InitialBackoff, MaxBackoff: opts.MaxBackoff,
		Hint: s.queueingHint,
	})
	return s, nil
}

// queueingHint asks the pod's profile whether ev may help it.
func (s *Scheduler) queueingHint(qp *QueuedPodInfo, ev ClusterEvent, oldObj, newObj any) bool {
	name := qp.Pod.Spec.SchedulerName
	if name == "" {
		name = DefaultSchedulerName
	}
	fw := s.frameworks[name]
	if fw == nil {
		return true
	}
	return fw.QueueingHint(qp.Pod, qp.UnschedulablePlugins, ev, oldObj, newObj)
}

// rejectors names the plugins behind a failed attempt's statuses.
func rejectors(fitErr *FitError, st *Status) sets.Set[string] {
	out := sets.New[string]()
	if p := st.Plugin(); p != "" {
		out.Insert(p)
	}
	if fitErr != nil {
		if fitErr.PreFilterPlugin != "" {
			out.Insert(fitErr.PreFilterPlugin)
		}
		for _, ns := range fitErr.NodeToStatus {
			if p := ns.Plugin(); p != "" {
				out.Insert(p)
			}
		}
	}
	return out
}

// Framework returns the framework serving schedulerName, or nil.
func (s *Scheduler) Framework(schedulerName string) *Framework { return s.frameworks[schedulerName] }

// Responsible reports whether a profile serves the pod's schedulerName.
func (s *Scheduler) Responsible(pod *corev1.Pod) bool {
	name := pod.Spec.SchedulerName
	if name == "" {
		name = DefaultSchedulerName
	}
	_, ok := s.frameworks[name]
	return ok
}

// Run pops and schedules pods until ctx is done. It blocks.
func (s *Scheduler) Run(ctx context.Context) {
	for {
		qp, err := s.Queue.Pop(ctx)
		if err != nil {
			s.bindWG.Wait()
			return
		}
		s.scheduleOne(ctx, qp)
	}
}

// ScheduleOne schedules the next active pod, if any, and reports whether
// there was one. It does not block on an empty queue.
func (s *Scheduler) ScheduleOne(ctx context.Context) bool {
	qp := s.Queue.TryPop()
	if qp == nil {
		return false
	}
	s.scheduleOne(ctx, qp)
	return true
}

// WaitForBindings waits for in-flight asynchronous binding cycles.
func (s *Scheduler) WaitForBindings() { s.bindWG.Wait() }

func (s *Scheduler) report(r Result) {
	if s.opts.OnResult != nil {
		r.End = s.opts.Clock.Now()
		s.opts.OnResult(r)
	}
}

func (s *Scheduler) scheduleOne(ctx context.Context, qp *QueuedPodInfo) {
	pod := qp.Pod
	name := pod.Spec.SchedulerName
	if name == "" {
		name = DefaultSchedulerName
	}
	fw := s.frameworks[name]
	res := Result{Pod: pod, Profile: name, Attempts: qp.Attempts, QueuedAt: qp.Timestamp, Start: s.opts.Clock.Now()}
	if fw == nil {
		s.Queue.Done(pod.UID)
		return
	}
	cycle := s.Queue.SchedulingCycle()
	s.Cache.UpdateSnapshot(s.snapshot)
	state := NewCycleState()
	host, evaluated, feasible, err := s.schedulePod(ctx, fw, state, pod)
	res.EvaluatedNodes, res.FeasibleNodes = evaluated, feasible
	if err != nil {
		var fitErr *FitError
		if errors.As(err, &fitErr) {
			res.FitError = fitErr
			res.Status = NewStatus(Unschedulable, fitErr.Error())
			if len(fw.postFilter) > 0 && fitErr.NodeToStatus != nil {
				r, st := fw.RunPostFilterPlugins(ctx, state, pod, fitErr.NodeToStatus)
				if st.IsSuccess() && r != nil && r.NominatedNodeName != "" {
					res.NominatedNodeName = r.NominatedNodeName
					s.nominate(pod, r.NominatedNodeName)
				}
			}
			qp.UnschedulablePlugins = rejectors(fitErr, nil)
			s.Queue.AddUnschedulable(qp, cycle, false)
		} else if errors.Is(err, ErrNoNodesAvailable) {
			// Not an error of ours: any node event may help.
			res.Status = NewStatus(UnschedulableAndUnresolvable, err.Error())
			qp.UnschedulablePlugins = nil
			s.Queue.AddUnschedulable(qp, cycle, false)
		} else {
			res.Status = AsStatus(err)
			s.Queue.AddUnschedulable(qp, cycle, true)
		}
		s.report(res)
		return
	}
	assumed := *pod
	assumed.Spec.NodeName = host
	if err := s.Cache.AssumePod(&assumed); err != nil {
		res.Status = AsStatus(err)
		s.Queue.AddUnschedulable(qp, cycle, true)
		s.report(res)
		return
	}
	fail := func(st *Status, errored bool) {
		fw.RunUnreservePlugins(ctx, state, &assumed, host)
		s.Cache.ForgetPod(&assumed)
		res.Status = st
		qp.UnschedulablePlugins = rejectors(nil, st)
		s.Queue.AddUnschedulable(qp, cycle, errored || st.Code() == Error)
		// The assumed pod's place is free again.
		s.Queue.OnEvent(EventAssignedPodDelete, &assumed, nil)
		s.report(res)
	}
	if st := fw.RunReservePlugins(ctx, state, &assumed, host); !st.IsSuccess() {
		fail(st, false)
		return
	}
	if st := fw.RunPermitPlugins(ctx, state, &assumed, host); !st.IsSuccess() && !st.IsWait() {
		fail(st, false)
		return
	}
	bindCycle := func() {
		if st := fw.WaitOnPermit(ctx, &assumed); !st.IsSuccess() {
			fail(st, false)
			return
		}
		if st := fw.RunPreBindPlugins(ctx, state, &assumed, host); !st.IsSuccess() {
			fail(st, true)
			return
		}
		if st := fw.RunBindPlugins(ctx, state, &assumed, host); !st.IsSuccess() {
			fail(st, true)
			return
		}
		s.Cache.FinishBinding(&assumed)
		s.ClearNomination(pod)
		fw.RunPostBindPlugins(ctx, state, &assumed, host)
		s.Queue.Done(pod.UID)
		res.NodeName = host
		s.report(res)
	}
	if s.opts.AsyncBinding {
		s.bindWG.Add(1)
		go func() { defer s.bindWG.Done(); bindCycle() }()
		return
	}
	bindCycle()
}

// NumFeasibleNodesToFind returns how many feasible nodes a cycle looks for
// among numAllNodes with the given percentage (0 = adaptive), as
// kube-scheduler does: all nodes below 100; otherwise 50% minus 1% per 125
// nodes, at least 5%, at least 100 nodes.
func NumFeasibleNodesToFind(percentage int32, numAllNodes int) int {
	if numAllNodes < 100 || percentage >= 100 {
		return numAllNodes
	}
	adaptive := int(percentage)
	if adaptive <= 0 {
		adaptive = 50 - numAllNodes/125
		if adaptive < 5 {
			adaptive = 5
		}
	}
	n := numAllNodes * adaptive / 100
	if n < 100 {
		n = 100
	}
	return n
}

func (s *Scheduler) schedulePod(ctx context.Context, fw *Framework, state *CycleState, pod *corev1.Pod) (string, int, int, error) {
	all := s.snapshot.List()
	if len(all) == 0 {
		return "", 0, 0, ErrNoNodesAvailable
	}
	pre, st := fw.RunPreFilterPlugins(ctx, state, pod)
	if !st.IsSuccess() {
		if st.IsRejected() {
			return "", 0, 0, &FitError{Pod: pod, NumAllNodes: len(all), PreFilterMsg: st.Message(), PreFilterPlugin: st.Plugin()}
		}
		return "", 0, 0, fmt.Errorf("pod %q: prefilter: %w", podKey(pod), st.AsError())
	}
	nodes := all
	fromPreFilter := false
	if pre != nil && pre.NodeNames != nil {
		nodes = make([]*NodeInfo, 0, pre.NodeNames.Len())
		for n := range pre.NodeNames {
			if ni, err := s.snapshot.Get(n); err == nil {
				nodes = append(nodes, ni)
			}
		}
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name() < nodes[j].Name() })
		fromPreFilter = true
	}
	feasible, statuses, evaluated, err := s.findFeasible(ctx, fw, state, pod, nodes, !fromPreFilter)
	if err != nil {
		return "", evaluated, 0, err
	}
	if len(feasible) == 0 {
		fe := &FitError{Pod: pod, NumAllNodes: len(all), NodeToStatus: map[string]*Status{}}
		for i, st := range statuses {
			if st != nil {
				fe.NodeToStatus[nodes[i].Name()] = st
			}
		}
		if fromPreFilter {
			for _, ni := range all {
				if _, ok := fe.NodeToStatus[ni.Name()]; !ok && !pre.NodeNames.Has(ni.Name()) {
					fe.NodeToStatus[ni.Name()] = NewStatus(UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) [PreFilter]")
				}
			}
		}
		return "", evaluated, 0, fe
	}
	if len(feasible) == 1 || !fw.HasScorePlugins() {
		return feasible[0].Name(), evaluated, len(feasible), nil
	}
	if st := fw.RunPreScorePlugins(ctx, state, pod, feasible); !st.IsSuccess() {
		return "", evaluated, len(feasible), fmt.Errorf("pod %q: %w", podKey(pod), st.AsError())
	}
	scores, st := fw.RunScorePlugins(ctx, state, pod, feasible)
	if !st.IsSuccess() {
		return "", evaluated, len(feasible), fmt.Errorf("pod %q: %w", podKey(pod), st.AsError())
	}
	return s.selectHost(feasible, scores), evaluated, len(feasible), nil
}

// selectHost returns the highest-scored node, breaking ties uniformly at
// random (reservoir sampling with the seeded source).
func (s *Scheduler) selectHost(nodes []*NodeInfo, scores []int64) string {
	best, ties := 0, 1
	for i := 1; i < len(nodes); i++ {
		switch {
		case scores[i] > scores[best]:
			best, ties = i, 1
		case scores[i] == scores[best]:
			ties++
			if s.rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best].Name()
}

func (s *Scheduler) findFeasible(ctx context.Context, fw *Framework, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo, sample bool) ([]*NodeInfo, []*Status, int, error) {
	want := len(nodes)
	if sample {
		want = NumFeasibleNodesToFind(fw.profile.PercentageOfNodesToScore, len(nodes))
	}
	if cap(s.feasibleBuf) < want {
		s.feasibleBuf = make([]*NodeInfo, want)
	}
	feasible := s.feasibleBuf[:want]
	if cap(s.statusBuf) < len(nodes) {
		s.statusBuf = make([]*Status, len(nodes))
	}
	statuses := s.statusBuf[:len(nodes)]
	if s.statusDirty {
		clear(s.statusBuf[:cap(s.statusBuf)])
		s.statusDirty = false
	}
	start := 0
	if sample {
		start = s.nextStartNodeIndex % len(nodes)
	}
	if len(fw.filter) == 0 {
		for i := 0; i < want; i++ {
			feasible[i] = nodes[(start+i)%len(nodes)]
		}
		if sample {
			s.nextStartNodeIndex = (start + want) % len(nodes)
		}
		return feasible, statuses, want, nil
	}
	nominated := s.nominatedSnapshot()
	prio := fw.PriorityOf(pod)
	var found, rejected atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	var stop atomic.Bool // enough nodes found, or an error
	// Workers take chunks of nodes and publish each chunk's feasible nodes
	// with one atomic add: a counter bumped per node would bounce its
	// cache line between cores on every feasible node.
	chunks := (len(nodes) + filterChunk - 1) / filterChunk
	fw.par.UntilStop(ctx, chunks, func(c int) bool {
		if stop.Load() {
			return false
		}
		var local [filterChunk]*NodeInfo
		k, rej := 0, 0
		lo, hi := c*filterChunk, min((c+1)*filterChunk, len(nodes))
		for i := lo; i < hi && int(found.Load())+k < want; i++ {
			idx := (start + i) % len(nodes)
			ni := nodes[idx]
			if len(nominated) > 0 {
				ni = withNominated(fw, pod, prio, ni, nominated[ni.Name()])
			}
			st := fw.RunFilterPlugins(ctx, state, pod, ni)
			switch {
			case st.IsSuccess():
				local[k] = nodes[idx]
				k++
			case st.Code() == Error:
				errMu.Lock()
				if firstErr == nil {
					firstErr = st.AsError()
				}
				errMu.Unlock()
				stop.Store(true)
				return false
			default:
				statuses[idx] = st
				rej++
			}
		}
		if rej > 0 {
			rejected.Add(int64(rej))
		}
		base := int(found.Add(int64(k))) - k
		if base < want {
			copy(feasible[base:min(base+k, want)], local[:k])
		}
		if base+k >= want {
			stop.Store(true)
			return false
		}
		return true
	})
	s.statusDirty = rejected.Load() > 0
	if firstErr != nil {
		return nil, nil, 0, fmt.Errorf("pod %q: %w", podKey(pod), firstErr)
	}
	if ctx.Err() != nil {
		return nil, nil, 0, ctx.Err()
	}
	n := min(int(found.Load()), want)
	evaluated := n + int(rejected.Load())
	if sample {
		s.nextStartNodeIndex = (start + evaluated) % len(nodes)
	}
	return feasible[:n], statuses, evaluated, nil
}

// filterChunk is how many nodes a filter worker takes at a time.
const filterChunk = 16

// withNominated returns ni with the pods nominated to it that have at
// least prio (other than pod itself) counted as running there, as
// kube-scheduler does; ni itself when there are none.
func withNominated(fw *Framework, pod *corev1.Pod, prio int32, ni *NodeInfo, noms []*PodInfo) *NodeInfo {
	var clone *NodeInfo
	for _, pi := range noms {
		if pi.Pod.UID != pod.UID && fw.PriorityOf(pi.Pod) >= prio {
			if clone == nil {
				clone = ni.Clone()
			}
			clone.AddPodInfo(pi)
		}
	}
	if clone == nil {
		return ni
	}
	return clone
}
