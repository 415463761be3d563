package plugins

import (
	"context"
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/scheduler"
)

// DefaultPreemption is a PostFilter plugin: when no node fits, it looks for
// a node where evicting pods of lower priority (spec.priority, as resolved
// by PriorityClass admission, or Handle.PriorityOf) makes the pod fit,
// evicts the fewest/lowest such victims through Handle.Evictor and
// nominates that node. Pods with preemptionPolicy Never do not preempt.
type DefaultPreemption struct{ h scheduler.Handle }

var _ scheduler.PostFilterPlugin = (*DefaultPreemption)(nil)

// NewDefaultPreemption is DefaultPreemption's factory.
func NewDefaultPreemption(_ any, h scheduler.Handle) (scheduler.Plugin, error) {
	return &DefaultPreemption{h: h}, nil
}

// Name implements scheduler.Plugin.
func (*DefaultPreemption) Name() string { return DefaultPreemptionName }

// Candidate is a node with the pods whose eviction lets the pod fit.
type Candidate struct {
	Node    string
	Victims []*corev1.Pod
}

// PostFilter implements scheduler.PostFilterPlugin.
func (p *DefaultPreemption) PostFilter(ctx context.Context, cs *scheduler.CycleState, pod *corev1.Pod, filtered map[string]*scheduler.Status) (*scheduler.PostFilterResult, *scheduler.Status) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return nil, scheduler.NewStatus(scheduler.Unschedulable, "not eligible due to preemptionPolicy=Never")
	}
	c, st := p.FindCandidate(ctx, cs, pod, filtered)
	if !st.IsSuccess() {
		return nil, st
	}
	ev := p.h.Evictor()
	if ev == nil {
		return nil, scheduler.NewStatus(scheduler.Unschedulable, "preemption: no evictor configured")
	}
	for _, v := range c.Victims {
		if err := ev.EvictPod(ctx, v, pod); err != nil {
			return nil, scheduler.AsStatus(fmt.Errorf("preempt pod %q on node %q: %w", v.Namespace+"/"+v.Name, c.Node, err))
		}
	}
	return &scheduler.PostFilterResult{NominatedNodeName: c.Node}, nil
}

// FindCandidate returns the best node for preemption without evicting.
func (p *DefaultPreemption) FindCandidate(ctx context.Context, cs *scheduler.CycleState, pod *corev1.Pod, filtered map[string]*scheduler.Status) (*Candidate, *scheduler.Status) {
	lister := p.h.SnapshotSharedLister()
	var nodes []*scheduler.NodeInfo
	for name, st := range filtered {
		if st.Code() != scheduler.Unschedulable {
			continue // unresolvable: preemption cannot help
		}
		if ni, err := lister.Get(name); err == nil {
			nodes = append(nodes, ni)
		}
	}
	if len(nodes) == 0 {
		return nil, scheduler.NewStatus(scheduler.Unschedulable, "preemption: 0/"+fmt.Sprint(len(lister.List()))+" nodes are available for preemption")
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name() < nodes[j].Name() })
	prio := p.h.PriorityOf(pod)
	cands := make([]*Candidate, len(nodes))
	var mu sync.Mutex
	p.h.Parallelizer().Until(ctx, len(nodes), func(i int) {
		c := p.selectVictims(ctx, cs.Clone(), pod, prio, nodes[i])
		mu.Lock()
		cands[i] = c
		mu.Unlock()
	})
	var best *Candidate
	var bestKey [3]int64
	for _, c := range cands {
		if c == nil {
			continue
		}
		key := p.rank(c)
		if best == nil || less3(key, bestKey) {
			best, bestKey = c, key
		}
	}
	if best == nil {
		return nil, scheduler.NewStatus(scheduler.Unschedulable, "preemption: no node becomes feasible by evicting lower-priority pods")
	}
	return best, nil
}

// rank orders candidates: lowest highest-victim priority, then lowest
// priority sum, then fewest victims.
func (p *DefaultPreemption) rank(c *Candidate) [3]int64 {
	hi, sum := int64(-1<<31), int64(0)
	for _, v := range c.Victims {
		pr := int64(p.h.PriorityOf(v))
		hi = max(hi, pr)
		sum += pr
	}
	if len(c.Victims) == 0 {
		hi = -1 << 31
	}
	return [3]int64{hi, sum, int64(len(c.Victims))}
}

func less3(a, b [3]int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func (p *DefaultPreemption) selectVictims(ctx context.Context, cs *scheduler.CycleState, pod *corev1.Pod, prio int32, orig *scheduler.NodeInfo) *Candidate {
	ni := orig.Clone()
	var lower []*scheduler.PodInfo
	for _, pi := range orig.Pods {
		if p.h.PriorityOf(pi.Pod) < prio {
			lower = append(lower, pi)
		}
	}
	if len(lower) == 0 {
		return nil
	}
	for _, pi := range lower {
		ni.RemovePod(pi.Pod)
		if st := p.h.RunPreFilterExtensionRemovePod(ctx, cs, pod, pi, ni); !st.IsSuccess() {
			return nil
		}
	}
	if st := p.h.RunFilterPlugins(ctx, cs, pod, ni); !st.IsSuccess() {
		return nil
	}
	// Reprieve as many victims as possible, highest priority first.
	sort.SliceStable(lower, func(i, j int) bool { return p.h.PriorityOf(lower[i].Pod) > p.h.PriorityOf(lower[j].Pod) })
	c := &Candidate{Node: orig.Name()}
	for _, pi := range lower {
		ni.AddPodInfo(pi)
		if st := p.h.RunPreFilterExtensionAddPod(ctx, cs, pod, pi, ni); !st.IsSuccess() {
			return nil
		}
		if st := p.h.RunFilterPlugins(ctx, cs, pod, ni); !st.IsSuccess() {
			ni.RemovePod(pi.Pod)
			p.h.RunPreFilterExtensionRemovePod(ctx, cs, pod, pi, ni)
			c.Victims = append(c.Victims, pi.Pod)
		}
	}
	return c
}
