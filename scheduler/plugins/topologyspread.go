package plugins

import (
	"context"
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/gantryhq/gantry/scheduler"
)

// PodTopologySpread enforces topologySpreadConstraints with
// whenUnsatisfiable DoNotSchedule (Filter) and prefers spreading for
// ScheduleAnyway (Score). Only nodes carrying every topology key count as
// domains; with nodeAffinityPolicy Honor (the default) only those matching
// the pod's nodeSelector and required node affinity, with nodeTaintsPolicy
// Honor only those whose NoSchedule and NoExecute taints the pod tolerates
// (the default, Ignore, counts tainted nodes too). minDomains and
// matchLabelKeys are not implemented.
type PodTopologySpread struct{ h scheduler.Handle }

var (
	_ scheduler.PreFilterPlugin     = (*PodTopologySpread)(nil)
	_ scheduler.PreFilterExtensions = (*PodTopologySpread)(nil)
	_ scheduler.FilterPlugin        = (*PodTopologySpread)(nil)
	_ scheduler.PreScorePlugin      = (*PodTopologySpread)(nil)
	_ scheduler.ScorePlugin         = (*PodTopologySpread)(nil)
)

// NewPodTopologySpread is PodTopologySpread's factory.
func NewPodTopologySpread(_ any, h scheduler.Handle) (scheduler.Plugin, error) {
	return &PodTopologySpread{h: h}, nil
}

// Name implements scheduler.Plugin.
func (*PodTopologySpread) Name() string { return PodTopologySpreadName }

// Rejection reasons of PodTopologySpread.
const (
	ReasonTopologySpread             = "node(s) didn't match pod topology spread constraints"
	ReasonTopologySpreadMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
)

type spreadConstraint struct {
	maxSkew     int64
	topologyKey string
	selector    labels.Selector
	// honorAffinity and honorTaints are the node inclusion policies.
	honorAffinity, honorTaints bool
	// minDomains: with fewer eligible domains, the global minimum counts
	// as 0 (DoNotSchedule constraints only; 0 means unset).
	minDomains int
}

type spreadState struct {
	constraints []spreadConstraint
	// included reports whether a node's domain counts for constraint i.
	included func(node *corev1.Node, i int) bool
	// counts[i][value] counts matching pods in each domain of constraint i.
	counts []map[string]int64
	// mins[i] is the smallest count of constraint i (0 without domains).
	mins []int64
}

func (s *spreadState) recomputeMins() {
	s.mins = make([]int64, len(s.counts))
	for i, m := range s.counts {
		lo := int64(math.MaxInt64)
		for _, n := range m {
			lo = min(lo, n)
		}
		if lo == math.MaxInt64 {
			lo = 0
		}
		s.mins[i] = lo
	}
}

func (s *spreadState) Clone() scheduler.StateData {
	c := &spreadState{constraints: s.constraints, included: s.included, counts: make([]map[string]int64, len(s.counts))}
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int64, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	c.mins = append([]int64(nil), s.mins...)
	return c
}

func parseConstraints(pod *corev1.Pod, when corev1.UnsatisfiableConstraintAction) ([]spreadConstraint, error) {
	var out []spreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := spreadSelector(pod, &c)
		if err != nil {
			return nil, fmt.Errorf("pod %q: topology spread selector: %w", pod.Namespace+"/"+pod.Name, err)
		}
		minDomains := 0
		if c.MinDomains != nil && when == corev1.DoNotSchedule {
			minDomains = int(*c.MinDomains)
		}
		out = append(out, spreadConstraint{
			maxSkew: int64(c.MaxSkew), topologyKey: c.TopologyKey, selector: sel, minDomains: minDomains,
			honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor,
		})
	}
	return out, nil
}

// spreadSelector is the constraint's label selector, narrowed by
// matchLabelKeys to the pods that share the pod's values of those keys
// (keys the pod does not have are ignored).
func spreadSelector(pod *corev1.Pod, c *corev1.TopologySpreadConstraint) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
	if err != nil || len(c.MatchLabelKeys) == 0 {
		return sel, err
	}
	for _, k := range c.MatchLabelKeys {
		v, ok := pod.Labels[k]
		if !ok {
			continue
		}
		req, err := labels.NewRequirement(k, selection.Equals, []string{v})
		if err != nil {
			return nil, fmt.Errorf("matchLabelKeys %q: %w", k, err)
		}
		sel = sel.Add(*req)
	}
	return sel, nil
}

// toleratesNode reports whether pod tolerates every NoSchedule and
// NoExecute taint of node.
func toleratesNode(pod *corev1.Pod, node *corev1.Node) bool {
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !tolerated(pod.Spec.Tolerations, t) {
			return false
		}
	}
	return true
}

func hasKeys(node *corev1.Node, cs []spreadConstraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.topologyKey]; !ok {
			return false
		}
	}
	return true
}

func (p *PodTopologySpread) build(pod *corev1.Pod, cs []spreadConstraint, nodes []*scheduler.NodeInfo) (*spreadState, error) {
	aff, err := NewRequiredNodeAffinity(pod)
	if err != nil {
		return nil, err
	}
	st := &spreadState{constraints: cs, counts: make([]map[string]int64, len(cs))}
	st.included = func(node *corev1.Node, i int) bool {
		c := cs[i]
		return hasKeys(node, cs) && (!c.honorAffinity || aff.Match(node)) && (!c.honorTaints || toleratesNode(pod, node))
	}
	for i := range cs {
		st.counts[i] = map[string]int64{}
	}
	for _, ni := range nodes {
		node := ni.Node()
		for i, c := range cs {
			if !st.included(node, i) {
				continue
			}
			v := node.Labels[c.topologyKey]
			n := st.counts[i][v]
			for _, pi := range ni.Pods {
				if pi.Pod.Namespace == pod.Namespace && pi.Pod.DeletionTimestamp == nil && c.selector.Matches(labels.Set(pi.Pod.Labels)) {
					n++
				}
			}
			st.counts[i][v] = n
		}
	}
	st.recomputeMins()
	return st, nil
}

// PreFilter implements scheduler.PreFilterPlugin: Skip without hard
// constraints.
func (p *PodTopologySpread) PreFilter(_ context.Context, cs *scheduler.CycleState, pod *corev1.Pod, nodes []*scheduler.NodeInfo) (*scheduler.PreFilterResult, *scheduler.Status) {
	hard, err := parseConstraints(pod, corev1.DoNotSchedule)
	if err != nil {
		return nil, scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, err.Error())
	}
	if len(hard) == 0 {
		return nil, scheduler.NewStatus(scheduler.Skip)
	}
	st, err := p.build(pod, hard, nodes)
	if err != nil {
		return nil, scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, err.Error())
	}
	cs.Write(PodTopologySpreadName, st)
	return nil, nil
}

func (p *PodTopologySpread) update(cs *scheduler.CycleState, pod *corev1.Pod, other *scheduler.PodInfo, ni *scheduler.NodeInfo, delta int64) *scheduler.Status {
	d, err := cs.Read(PodTopologySpreadName)
	if err != nil {
		return nil
	}
	st := d.(*spreadState)
	node := ni.Node()
	if other.Pod.Namespace != pod.Namespace {
		return nil
	}
	for i, c := range st.constraints {
		if st.included(node, i) && c.selector.Matches(labels.Set(other.Pod.Labels)) {
			st.counts[i][node.Labels[c.topologyKey]] += delta
		}
	}
	st.recomputeMins()
	return nil
}

// AddPod implements scheduler.PreFilterExtensions.
func (p *PodTopologySpread) AddPod(_ context.Context, cs *scheduler.CycleState, pod *corev1.Pod, add *scheduler.PodInfo, ni *scheduler.NodeInfo) *scheduler.Status {
	return p.update(cs, pod, add, ni, 1)
}

// RemovePod implements scheduler.PreFilterExtensions.
func (p *PodTopologySpread) RemovePod(_ context.Context, cs *scheduler.CycleState, pod *corev1.Pod, rm *scheduler.PodInfo, ni *scheduler.NodeInfo) *scheduler.Status {
	return p.update(cs, pod, rm, ni, -1)
}

// Filter implements scheduler.FilterPlugin: placing the pod must keep
// count(domain)+1 - min(count) <= maxSkew for every constraint.
func (p *PodTopologySpread) Filter(_ context.Context, cs *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	d, err := cs.Read(PodTopologySpreadName)
	if err != nil {
		return scheduler.AsStatus(err)
	}
	st := d.(*spreadState)
	node := ni.Node()
	for i, c := range st.constraints {
		v, ok := node.Labels[c.topologyKey]
		if !ok {
			return scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, ReasonTopologySpreadMissingLabel)
		}
		minCount := st.mins[i]
		if c.minDomains > 0 && len(st.counts[i]) < c.minDomains {
			minCount = 0
		}
		self := int64(0)
		if c.selector.Matches(labels.Set(pod.Labels)) {
			self = 1
		}
		if st.counts[i][v]+self-minCount > c.maxSkew {
			return scheduler.NewStatus(scheduler.Unschedulable, ReasonTopologySpread)
		}
	}
	return nil
}

const spreadScoreKey = PodTopologySpreadName + "/score"

// PreScore implements scheduler.PreScorePlugin: Skip without soft
// constraints.
func (p *PodTopologySpread) PreScore(_ context.Context, cs *scheduler.CycleState, pod *corev1.Pod, _ []*scheduler.NodeInfo) *scheduler.Status {
	soft, err := parseConstraints(pod, corev1.ScheduleAnyway)
	if err != nil {
		return scheduler.AsStatus(err)
	}
	if len(soft) == 0 {
		return scheduler.NewStatus(scheduler.Skip)
	}
	st, err := p.build(pod, soft, p.h.SnapshotSharedLister().List())
	if err != nil {
		return scheduler.AsStatus(err)
	}
	cs.Write(spreadScoreKey, st)
	return nil
}

// Score implements scheduler.ScorePlugin: the matching pods in the node's
// domains, weighted by 1/maxSkew (fewer is better after normalizing).
func (p *PodTopologySpread) Score(_ context.Context, cs *scheduler.CycleState, _ *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	d, err := cs.Read(spreadScoreKey)
	if err != nil {
		return 0, scheduler.AsStatus(err)
	}
	st := d.(*spreadState)
	var s int64
	for i, c := range st.constraints {
		if v, ok := ni.Node().Labels[c.topologyKey]; ok {
			s += st.counts[i][v] * 100 / c.maxSkew
		}
	}
	return s, nil
}

// ScoreExtensions implements scheduler.ScorePlugin.
func (p *PodTopologySpread) ScoreExtensions() scheduler.ScoreExtensions { return spreadNormalizer{} }

type spreadNormalizer struct{}

// NormalizeScore maps the lowest count to 100 and the highest to 0.
func (spreadNormalizer) NormalizeScore(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, scores []scheduler.NodeScore) *scheduler.Status {
	minMaxNormalize(scores)
	for i := range scores {
		scores[i].Score = scheduler.MaxNodeScore - scores[i].Score
	}
	return nil
}
