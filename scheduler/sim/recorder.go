package sim

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/scheduler"
)

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	// Client watches pods. Required.
	Client kubernetes.Interface
	// Namespace limits recording to one namespace; empty means all.
	Namespace string
	// Now reads the clock; nil means time.Now.
	Now func() time.Time
}

// Recorder turns a live cluster's pod events into a trace: a job per pod
// seen, arriving when the pod was first observed (relative to
// NewRecorder), with its requests, priority, labels and nodeSelector, and a
// duration from the moment it was bound to the moment it finished
// (Succeeded/Failed) or was deleted. Safe for concurrent use; Run blocks.
type Recorder struct {
	opts   RecorderOptions
	mu     sync.Mutex
	start  time.Time
	jobs   map[string]*recorded
	events int
}

type recorded struct {
	job          Job
	seen, bound  time.Time
	ended        time.Time
	order        int
	boundAlready bool
}

// NewRecorder returns a recorder; call Run to start it.
func NewRecorder(opts RecorderOptions) (*Recorder, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("sim recorder: Client is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Recorder{opts: opts, jobs: map[string]*recorded{}, start: opts.Now()}, nil
}

// Events returns how many pod events were recorded.
func (r *Recorder) Events() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}

func (r *Recorder) observe(p *corev1.Pod, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events++
	now := r.opts.Now()
	key := p.Namespace + "/" + p.Name
	rec, ok := r.jobs[key]
	if !ok {
		req, _ := scheduler.PodRequests(p)
		rec = &recorded{seen: now, order: len(r.jobs), boundAlready: p.Spec.NodeName != "", job: Job{
			Name: p.Name, Arrival: now.Sub(r.start), MilliCPU: req.MilliCPU, MemoryMiB: req.Memory >> 20,
			Priority: scheduler.PodPriority(p), Labels: p.Labels, NodeSelector: p.Spec.NodeSelector,
		}}
		r.jobs[key] = rec
	}
	if p.Spec.NodeName != "" && rec.bound.IsZero() {
		rec.bound = now
	}
	if rec.ended.IsZero() && (deleted || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
		rec.ended = now
	}
}

// Run records until ctx is done; it returns nil then.
func (r *Recorder) Run(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(r.opts.Client, 0, informers.WithNamespace(r.opts.Namespace))
	toPod := func(obj any) *corev1.Pod {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		p, _ := obj.(*corev1.Pod)
		return p
	}
	_, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p := toPod(obj); p != nil {
				r.observe(p, false)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p := toPod(obj); p != nil {
				r.observe(p, false)
			}
		},
		DeleteFunc: func(obj any) {
			if p := toPod(obj); p != nil {
				r.observe(p, true)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("sim recorder: %w", err)
	}
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
	return nil
}

// Trace returns the jobs recorded so far, by arrival. Pods still running
// get their run time up to now; pods never bound get a zero duration.
// Pods that were bound before recording started are left out.
func (r *Recorder) Trace() Trace {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	var recs []*recorded
	for _, rec := range r.jobs {
		if !rec.boundAlready {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].order < recs[j].order })
	t := make(Trace, 0, len(recs))
	for _, rec := range recs {
		j := rec.job
		if !rec.bound.IsZero() {
			end := rec.ended
			if end.IsZero() {
				end = now
			}
			j.Duration = end.Sub(rec.bound)
		}
		t = append(t, j)
	}
	t.sort()
	return t
}
