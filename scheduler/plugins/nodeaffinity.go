package plugins

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/gantryhq/gantry/scheduler"
)

// NodeAffinity enforces spec.nodeSelector and required node affinity, and
// scores preferred node affinity.
type NodeAffinity struct{}

var (
	_ scheduler.PreFilterPlugin = NodeAffinity{}
	_ scheduler.FilterPlugin    = NodeAffinity{}
	_ scheduler.PreScorePlugin  = NodeAffinity{}
	_ scheduler.ScorePlugin     = NodeAffinity{}
)

// NewNodeAffinity is NodeAffinity's factory.
func NewNodeAffinity(any, scheduler.Handle) (scheduler.Plugin, error) { return NodeAffinity{}, nil }

// Name implements scheduler.Plugin.
func (NodeAffinity) Name() string { return NodeAffinityName }

// ReasonNodeAffinity is NodeAffinity's rejection reason.
const ReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector"

// NodeSelector is a parsed corev1.NodeSelector: a node matches if any term
// matches; a term matches if all its requirements do.
type NodeSelector struct {
	terms []nodeSelectorTerm
}

type nodeSelectorTerm struct {
	labels labels.Selector
	fields []corev1.NodeSelectorRequirement // metadata.name only
}

// NewNodeSelector parses a NodeSelector.
func NewNodeSelector(ns *corev1.NodeSelector) (*NodeSelector, error) {
	out := &NodeSelector{}
	for i := range ns.NodeSelectorTerms {
		t, err := parseTerm(&ns.NodeSelectorTerms[i])
		if err != nil {
			return nil, fmt.Errorf("term %d: %w", i, err)
		}
		out.terms = append(out.terms, t)
	}
	return out, nil
}

func parseTerm(t *corev1.NodeSelectorTerm) (nodeSelectorTerm, error) {
	sel := labels.NewSelector()
	for _, r := range t.MatchExpressions {
		var op string
		switch r.Operator {
		case corev1.NodeSelectorOpIn:
			op = "in"
		case corev1.NodeSelectorOpNotIn:
			op = "notin"
		case corev1.NodeSelectorOpExists:
			op = "exists"
		case corev1.NodeSelectorOpDoesNotExist:
			op = "!"
		case corev1.NodeSelectorOpGt:
			op = "gt"
		case corev1.NodeSelectorOpLt:
			op = "lt"
		default:
			return nodeSelectorTerm{}, fmt.Errorf("operator %q: not supported", r.Operator)
		}
		req, err := labels.NewRequirement(r.Key, selection.Operator(op), r.Values)
		if err != nil {
			return nodeSelectorTerm{}, fmt.Errorf("requirement %q: %w", r.Key, err)
		}
		sel = sel.Add(*req)
	}
	for _, f := range t.MatchFields {
		if f.Key != "metadata.name" {
			return nodeSelectorTerm{}, fmt.Errorf("field %q: not supported", f.Key)
		}
	}
	return nodeSelectorTerm{labels: sel, fields: t.MatchFields}, nil
}

func (t *nodeSelectorTerm) matches(node *corev1.Node) bool {
	if t.labels.Empty() && len(t.fields) == 0 {
		return false // an empty term matches nothing
	}
	if !t.labels.Matches(labels.Set(node.Labels)) {
		return false
	}
	for _, f := range t.fields {
		in := false
		for _, v := range f.Values {
			in = in || v == node.Name
		}
		switch f.Operator {
		case corev1.NodeSelectorOpIn:
			if !in {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if in {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Match reports whether any term matches the node.
func (s *NodeSelector) Match(node *corev1.Node) bool {
	for i := range s.terms {
		if s.terms[i].matches(node) {
			return true
		}
	}
	return false
}

// RequiredNodeAffinity is a pod's nodeSelector plus required node
// affinity, parsed.
type RequiredNodeAffinity struct {
	selector labels.Selector
	affinity *NodeSelector
}

// NewRequiredNodeAffinity parses the pod's hard node constraints.
func NewRequiredNodeAffinity(pod *corev1.Pod) (*RequiredNodeAffinity, error) {
	r := &RequiredNodeAffinity{}
	if len(pod.Spec.NodeSelector) > 0 {
		r.selector = labels.SelectorFromSet(pod.Spec.NodeSelector)
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		ns, err := NewNodeSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
		if err != nil {
			return nil, fmt.Errorf("pod %q: node affinity: %w", pod.Namespace+"/"+pod.Name, err)
		}
		r.affinity = ns
	}
	return r, nil
}

// Empty reports whether there is no constraint.
func (r *RequiredNodeAffinity) Empty() bool { return r.selector == nil && r.affinity == nil }

// Match reports whether the node satisfies the constraints.
func (r *RequiredNodeAffinity) Match(node *corev1.Node) bool {
	if r.selector != nil && !r.selector.Matches(labels.Set(node.Labels)) {
		return false
	}
	return r.affinity == nil || r.affinity.Match(node)
}

func (r *RequiredNodeAffinity) Clone() scheduler.StateData { return r }

// PreFilter implements scheduler.PreFilterPlugin: Skip without
// constraints.
func (NodeAffinity) PreFilter(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, _ []*scheduler.NodeInfo) (*scheduler.PreFilterResult, *scheduler.Status) {
	r, err := NewRequiredNodeAffinity(pod)
	if err != nil {
		return nil, scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, err.Error())
	}
	if r.Empty() {
		return nil, scheduler.NewStatus(scheduler.Skip)
	}
	st.Write(NodeAffinityName, r)
	return nil, nil
}

// Filter implements scheduler.FilterPlugin.
func (NodeAffinity) Filter(_ context.Context, st *scheduler.CycleState, _ *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	d, err := st.Read(NodeAffinityName)
	if err != nil {
		return scheduler.AsStatus(err)
	}
	if !d.(*RequiredNodeAffinity).Match(ni.Node()) {
		return scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, ReasonNodeAffinity)
	}
	return nil
}

type preferredTerms []weightedTerm

type weightedTerm struct {
	term   nodeSelectorTerm
	weight int64
}

func (p preferredTerms) Clone() scheduler.StateData { return p }

const nodeAffinityScoreKey = NodeAffinityName + "/score"

// PreScore implements scheduler.PreScorePlugin: Skip without preferred
// terms.
func (NodeAffinity) PreScore(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, _ []*scheduler.NodeInfo) *scheduler.Status {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return scheduler.NewStatus(scheduler.Skip)
	}
	var terms preferredTerms
	for _, pt := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		t, err := parseTerm(&pt.Preference)
		if err != nil {
			return scheduler.AsStatus(fmt.Errorf("preferred node affinity: %w", err))
		}
		terms = append(terms, weightedTerm{term: t, weight: int64(pt.Weight)})
	}
	st.Write(nodeAffinityScoreKey, terms)
	return nil
}

// Score implements scheduler.ScorePlugin: the sum of the weights of the
// matching preferred terms.
func (NodeAffinity) Score(_ context.Context, st *scheduler.CycleState, _ *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	d, err := st.Read(nodeAffinityScoreKey)
	if err != nil {
		return 0, scheduler.AsStatus(err)
	}
	var s int64
	for _, t := range d.(preferredTerms) {
		if t.term.matches(ni.Node()) {
			s += t.weight
		}
	}
	return s, nil
}

// ScoreExtensions implements scheduler.ScorePlugin.
func (NodeAffinity) ScoreExtensions() scheduler.ScoreExtensions { return defaultNormalizer{} }
