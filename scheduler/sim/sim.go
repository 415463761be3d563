package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/scheduler"
)

// NodeSpec is a simulated node.
type NodeSpec struct {
	Name      string
	MilliCPU  int64
	MemoryMiB int64
	Pods      int64
	Labels    map[string]string
}

// UniformCluster returns n identical nodes named node-0000...
func UniformCluster(n int, milliCPU, memoryMiB, pods int64) []NodeSpec {
	out := make([]NodeSpec, n)
	for i := range out {
		name := fmt.Sprintf("node-%04d", i)
		out[i] = NodeSpec{Name: name, MilliCPU: milliCPU, MemoryMiB: memoryMiB, Pods: pods,
			Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%3)}}
	}
	return out
}

// Candidate is one scheduler configuration to compare.
type Candidate struct {
	// Name labels the results.
	Name string
	// Registry and Profile configure the framework; the profile's
	// SchedulerName is overridden. Use scheduler.ProfileFromAlgorithm for
	// an Algorithm.
	Registry scheduler.Registry
	Profile  scheduler.Profile
}

// Config is one simulation.
type Config struct {
	Cluster []NodeSpec
	Trace   Trace
	// Seed drives the scheduler's tie-breaking.
	Seed uint64
	// SampleEvery is the period of utilisation samples (default 10s).
	SampleEvery time.Duration
}

// Sample is the cluster state at one virtual time.
type Sample struct {
	At time.Duration `json:"at"`
	// CPU and Memory are requested/allocatable over the cluster.
	CPU, Memory float64
	// Imbalance is the standard deviation of per-node CPU utilisation.
	Imbalance float64
	// Fragmentation is the share of free CPU on nodes that cannot fit the
	// trace's mean job.
	Fragmentation float64
	Running       int
	Pending       int
}

// Result holds one candidate's metrics. Everything but Wall is
// deterministic for a seed.
type Result struct {
	Name          string
	Jobs          int
	Scheduled     int
	Unschedulable int
	Preemptions   int
	Attempts      int
	// Makespan is the virtual time of the last completion.
	Makespan time.Duration
	// Throughput is jobs completed per virtual minute.
	Throughput float64
	// PendingP50/P99 are arrival-to-bind times (virtual).
	PendingP50, PendingP99 time.Duration
	// NodesEvaluatedP50/P99 measure decision cost in filter calls.
	NodesEvaluatedP50, NodesEvaluatedP99 int
	// MeanCPU, MeanMemory, MeanImbalance, MeanFragmentation average the
	// samples.
	MeanCPU, MeanMemory, MeanImbalance, MeanFragmentation float64
	Samples                                               []Sample
	// Wall is wall-clock decision latency; not reproducible.
	Wall WallStats `json:"-"`
}

// WallStats are wall-clock figures of a run.
type WallStats struct {
	DecisionP50, DecisionP99 time.Duration
	DecisionsPerSecond       float64
}

type event struct {
	at   time.Duration
	kind int // 0 completion, 1 arrival, 2 sample, 3 wake
	seq  int
	job  int
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].kind != h[j].kind {
		return h[i].kind < h[j].kind
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func jobPod(i int, j *Job) *corev1.Pod {
	prio := j.Priority
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "sim", Name: j.Name, UID: types.UID(fmt.Sprintf("%s-%d", j.Name, i)), Labels: j.Labels},
		Spec: corev1.PodSpec{
			SchedulerName: "sim",
			Priority:      &prio,
			NodeSelector:  j.NodeSelector,
			Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(j.MilliCPU, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(j.MemoryMiB<<20, resource.BinarySI),
			}}}},
		},
	}
}

func specNode(n NodeSpec) *corev1.Node {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(n.MilliCPU, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(n.MemoryMiB<<20, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(n.Pods, resource.DecimalSI),
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: types.UID(n.Name), Labels: n.Labels},
		Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl}}
}

type evictor struct{ r *runner }

func (e evictor) EvictPod(_ context.Context, v, _ *corev1.Pod) error {
	e.r.evict(v)
	e.r.s.Queue.OnEvent(scheduler.EventAssignedPodDelete, v, nil)
	return nil
}

type runner struct {
	cfg      Config
	s        *scheduler.Scheduler
	clk      *clocktesting.FakeClock
	events   eventHeap
	seq      int
	pods     []*corev1.Pod
	bound    map[types.UID]*corev1.Pod // running pods
	byUID    map[types.UID]int
	epochs   []int // incremented when a job is evicted: stale completions are ignored
	res      Result
	pending  []time.Duration
	evals    []int
	wall     []time.Duration
	meanCPU  int64
	now      time.Duration
	finished int
}

func (r *runner) push(at time.Duration, kind, job int) {
	r.seq++
	heap.Push(&r.events, event{at: at, kind: kind, seq: r.seq, job: job})
}

func (r *runner) evict(v *corev1.Pod) {
	r.s.Cache.RemovePod(v)
	delete(r.bound, v.UID)
	i := r.byUID[v.UID]
	r.epochs[i]++
	r.res.Preemptions++
}

// Run simulates the trace on the cluster with one candidate.
func Run(ctx context.Context, cfg Config, c Candidate) (*Result, error) {
	if len(cfg.Cluster) == 0 {
		return nil, errors.New("sim: empty cluster")
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 10 * time.Second
	}
	r := &runner{cfg: cfg, clk: clocktesting.NewFakeClock(epoch), bound: map[types.UID]*corev1.Pod{}, byUID: map[types.UID]int{}}
	r.res.Name, r.res.Jobs = c.Name, len(cfg.Trace)
	prof := c.Profile
	prof.SchedulerName = "sim"
	s, err := scheduler.New(scheduler.Options{
		Registry: c.Registry, Profiles: []scheduler.Profile{prof},
		Binder:      scheduler.BinderFunc(r.bind),
		Evictor:     evictor{r},
		Clock:       r.clk,
		Parallelism: 1,
		Seed:        cfg.Seed,
		OnResult:    r.onResult,
	})
	if err != nil {
		return nil, fmt.Errorf("sim: candidate %q: %w", c.Name, err)
	}
	r.s = s
	for _, n := range cfg.Cluster {
		s.Cache.AddNode(specNode(n))
	}
	var sumCPU int64
	for i := range cfg.Trace {
		j := &cfg.Trace[i]
		p := jobPod(i, j)
		r.pods = append(r.pods, p)
		r.byUID[p.UID] = i
		r.push(j.Arrival, 1, i)
		sumCPU += j.MilliCPU
	}
	if len(cfg.Trace) > 0 {
		r.meanCPU = sumCPU / int64(len(cfg.Trace))
	}
	r.epochs = make([]int, len(cfg.Trace))
	r.push(0, 2, -1)
	for r.events.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := heap.Pop(&r.events).(event)
		if e.kind == 2 && r.finished == len(cfg.Trace) {
			continue
		}
		r.advance(e.at)
		switch e.kind {
		case 0:
			r.complete(e)
		case 1:
			s.Queue.Add(r.pods[e.job])
		case 2:
			r.sample()
			if r.events.Len() > 0 {
				r.push(r.now+cfg.SampleEvery, 2, -1)
			}
		case 3:
		}
		// Drain everything due at this instant before scheduling.
		if r.events.Len() > 0 && r.events[0].at == r.now {
			continue
		}
		s.Queue.FlushBackoffCompleted()
		s.Queue.FlushUnschedulableLeftover()
		for {
			t0 := time.Now() // wall clock: Result.Wall only
			if !s.ScheduleOne(ctx) {
				break
			}
			r.wall = append(r.wall, time.Since(t0))
		}
		if t, ok := s.Queue.NextBackoffExpiry(); ok {
			r.push(t.Sub(epoch), 3, -1)
		}
	}
	r.finish()
	return &r.res, nil
}

func (r *runner) advance(at time.Duration) {
	if at > r.now {
		r.clk.SetTime(epoch.Add(at))
		r.now = at
	}
}

// completions carry the job's epoch in job index space: job*2^20+epoch.
func (r *runner) complete(e event) {
	i, ep := e.job>>20, e.job&(1<<20-1)
	if ep != r.epochs[i]&(1<<20-1) {
		return // the job was preempted; this completion is stale
	}
	p := r.pods[i]
	bp, ok := r.bound[p.UID]
	if !ok {
		return
	}
	delete(r.bound, p.UID)
	r.s.Cache.RemovePod(bp)
	r.s.Queue.OnEvent(scheduler.EventAssignedPodDelete, bp, nil)
	r.finished++
	r.res.Makespan = r.now
}

func (r *runner) bind(_ context.Context, p *corev1.Pod, node string) error {
	i := r.byUID[p.UID]
	bp := p.DeepCopy()
	bp.Spec.NodeName = node
	r.s.Cache.AddPod(bp)
	r.bound[p.UID] = bp
	r.pending = append(r.pending, r.now-r.cfg.Trace[i].Arrival)
	r.res.Scheduled++
	r.push(r.now+r.cfg.Trace[i].Duration, 0, i<<20|(r.epochs[i]&(1<<20-1)))
	return nil
}

func (r *runner) onResult(res scheduler.Result) {
	r.res.Attempts++
	r.evals = append(r.evals, res.EvaluatedNodes)
}

func (r *runner) sample() {
	var reqCPU, allocCPU, reqMem, allocMem int64
	var utils []float64
	var free, fragFree int64
	snap := scheduler.NewEmptySnapshot()
	r.s.Cache.UpdateSnapshot(snap)
	for _, ni := range snap.List() {
		reqCPU += ni.Requested.MilliCPU
		allocCPU += ni.Allocatable.MilliCPU
		reqMem += ni.Requested.Memory
		allocMem += ni.Allocatable.Memory
		if ni.Allocatable.MilliCPU > 0 {
			utils = append(utils, float64(ni.Requested.MilliCPU)/float64(ni.Allocatable.MilliCPU))
		}
		f := ni.Allocatable.MilliCPU - ni.Requested.MilliCPU
		free += f
		if f < r.meanCPU {
			fragFree += f
		}
	}
	a, b, u := r.s.Queue.Len()
	smp := Sample{At: r.now, Running: len(r.bound), Pending: a + b + u, Imbalance: stddev(utils)}
	if allocCPU > 0 {
		smp.CPU = float64(reqCPU) / float64(allocCPU)
	}
	if allocMem > 0 {
		smp.Memory = float64(reqMem) / float64(allocMem)
	}
	if free > 0 {
		smp.Fragmentation = float64(fragFree) / float64(free)
	}
	r.res.Samples = append(r.res.Samples, smp)
}

func stddev(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return math.Sqrt(v / float64(len(xs)))
}

func percentile[T int | time.Duration](xs []T, p float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(idx, len(s)-1))]
}

func (r *runner) finish() {
	res := &r.res
	a, b, u := r.s.Queue.Len()
	res.Unschedulable = a + b + u
	res.PendingP50, res.PendingP99 = percentile(r.pending, 0.5), percentile(r.pending, 0.99)
	res.NodesEvaluatedP50, res.NodesEvaluatedP99 = percentile(r.evals, 0.5), percentile(r.evals, 0.99)
	if res.Makespan > 0 {
		res.Throughput = float64(r.finished) / res.Makespan.Minutes()
	}
	for _, s := range res.Samples {
		res.MeanCPU += s.CPU
		res.MeanMemory += s.Memory
		res.MeanImbalance += s.Imbalance
		res.MeanFragmentation += s.Fragmentation
	}
	if n := float64(len(res.Samples)); n > 0 {
		res.MeanCPU /= n
		res.MeanMemory /= n
		res.MeanImbalance /= n
		res.MeanFragmentation /= n
	}
	res.Wall.DecisionP50, res.Wall.DecisionP99 = percentile(r.wall, 0.5), percentile(r.wall, 0.99)
	var total time.Duration
	for _, w := range r.wall {
		total += w
	}
	if total > 0 {
		res.Wall.DecisionsPerSecond = float64(len(r.wall)) / total.Seconds()
	}
}

// Compare runs every candidate on the same configuration.
func Compare(ctx context.Context, cfg Config, cands []Candidate) ([]*Result, error) {
	var out []*Result
	for _, c := range cands {
		r, err := Run(ctx, cfg, c)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
