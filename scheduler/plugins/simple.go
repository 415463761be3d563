package plugins

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/scheduler"
)

// PrioritySort orders the queue by priority (higher first), then by the
// time the pod entered the queue.
type PrioritySort struct{ h scheduler.Handle }

var _ scheduler.QueueSortPlugin = (*PrioritySort)(nil)

// NewPrioritySort is PrioritySort's factory.
func NewPrioritySort(_ any, h scheduler.Handle) (scheduler.Plugin, error) {
	return &PrioritySort{h: h}, nil
}

// Name implements scheduler.Plugin.
func (*PrioritySort) Name() string { return PrioritySortName }

// Less implements scheduler.QueueSortPlugin.
func (p *PrioritySort) Less(a, b *scheduler.QueuedPodInfo) bool {
	pa, pb := p.h.PriorityOf(a.Pod), p.h.PriorityOf(b.Pod)
	return pa > pb || (pa == pb && a.Timestamp.Before(b.Timestamp))
}

// NodeUnschedulable rejects cordoned nodes (spec.unschedulable) unless
// the pod tolerates node.kubernetes.io/unschedulable:NoSchedule.
type NodeUnschedulable struct{}

var _ scheduler.FilterPlugin = NodeUnschedulable{}

// NewNodeUnschedulable is NodeUnschedulable's factory.
func NewNodeUnschedulable(any, scheduler.Handle) (scheduler.Plugin, error) {
	return NodeUnschedulable{}, nil
}

// Name implements scheduler.Plugin.
func (NodeUnschedulable) Name() string { return NodeUnschedulableName }

// ReasonNodeUnschedulable is NodeUnschedulable's rejection reason.
const ReasonNodeUnschedulable = "node(s) were unschedulable"

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// Filter implements scheduler.FilterPlugin.
func (NodeUnschedulable) Filter(_ context.Context, _ *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	if !ni.Node().Spec.Unschedulable {
		return nil
	}
	if tolerated(pod.Spec.Tolerations, &unschedulableTaint) {
		return nil
	}
	return scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, ReasonNodeUnschedulable)
}

// NodeName rejects nodes other than a pod's spec.nodeName, if set.
type NodeName struct{}

var _ scheduler.FilterPlugin = NodeName{}

// NewNodeName is NodeName's factory.
func NewNodeName(any, scheduler.Handle) (scheduler.Plugin, error) { return NodeName{}, nil }

// Name implements scheduler.Plugin.
func (NodeName) Name() string { return NodeNameName }

// ReasonNodeName is NodeName's rejection reason.
const ReasonNodeName = "node(s) didn't match the requested node name"

// Filter implements scheduler.FilterPlugin.
func (NodeName) Filter(_ context.Context, _ *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	if pod.Spec.NodeName == "" || pod.Spec.NodeName == ni.Name() {
		return nil
	}
	return scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, ReasonNodeName)
}

// NodePorts rejects nodes where a host port the pod asks for is taken.
type NodePorts struct{}

var (
	_ scheduler.PreFilterPlugin = NodePorts{}
	_ scheduler.FilterPlugin    = NodePorts{}
)

// NewNodePorts is NodePorts' factory.
func NewNodePorts(any, scheduler.Handle) (scheduler.Plugin, error) { return NodePorts{}, nil }

// Name implements scheduler.Plugin.
func (NodePorts) Name() string { return NodePortsName }

// ReasonNodePorts is NodePorts' rejection reason.
const ReasonNodePorts = "node(s) didn't have free ports for the requested pod ports"

type portsState []scheduler.HostPort

func (s portsState) Clone() scheduler.StateData { return s }

// PreFilter implements scheduler.PreFilterPlugin: Skip without host ports.
func (NodePorts) PreFilter(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, _ []*scheduler.NodeInfo) (*scheduler.PreFilterResult, *scheduler.Status) {
	ports := scheduler.PodHostPorts(pod)
	if len(ports) == 0 {
		return nil, scheduler.NewStatus(scheduler.Skip)
	}
	st.Write(NodePortsName, portsState(ports))
	return nil, nil
}

// Filter implements scheduler.FilterPlugin.
func (NodePorts) Filter(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	d, err := st.Read(NodePortsName)
	if err != nil {
		return scheduler.AsStatus(err)
	}
	for _, want := range d.(portsState) {
		for _, used := range ni.UsedPorts {
			if want.Conflicts(used) {
				return scheduler.NewStatus(scheduler.Unschedulable, ReasonNodePorts)
			}
		}
	}
	return nil
}

// ImageLocality favours nodes that already have the pod's images, scaled
// by how widely each image is spread (as kube-scheduler does).
type ImageLocality struct{ h scheduler.Handle }

var _ scheduler.ScorePlugin = (*ImageLocality)(nil)

// NewImageLocality is ImageLocality's factory.
func NewImageLocality(_ any, h scheduler.Handle) (scheduler.Plugin, error) {
	return &ImageLocality{h: h}, nil
}

// Name implements scheduler.Plugin.
func (*ImageLocality) Name() string { return ImageLocalityName }

const (
	mb                    int64 = 1024 * 1024
	minImageThreshold           = 23 * mb
	maxContainerThreshold       = 1000 * mb
)

// Score implements scheduler.ScorePlugin.
func (p *ImageLocality) Score(_ context.Context, _ *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	if len(ni.Images) == 0 {
		return 0, nil
	}
	lister := p.h.SnapshotSharedLister()
	total := len(lister.List())
	var sum int64
	for i := range pod.Spec.Containers {
		img := scheduler.NormalizeImageName(pod.Spec.Containers[i].Image)
		if size, ok := ni.Images[img]; ok && total > 0 {
			sum += size * int64(lister.NumNodesWithImage(img)) / int64(total)
		}
	}
	maxT := maxContainerThreshold * int64(len(pod.Spec.Containers))
	if sum < minImageThreshold {
		return 0, nil
	}
	if sum > maxT {
		return scheduler.MaxNodeScore, nil
	}
	return scheduler.MaxNodeScore * (sum - minImageThreshold) / (maxT - minImageThreshold), nil
}

// ScoreExtensions implements scheduler.ScorePlugin.
func (*ImageLocality) ScoreExtensions() scheduler.ScoreExtensions { return nil }

// TaintToleration rejects nodes with NoSchedule/NoExecute taints the pod
// does not tolerate, and prefers nodes with fewer untolerated
// PreferNoSchedule taints.
type TaintToleration struct{}

var (
	_ scheduler.FilterPlugin = TaintToleration{}
	_ scheduler.ScorePlugin  = TaintToleration{}
)

// NewTaintToleration is TaintToleration's factory.
func NewTaintToleration(any, scheduler.Handle) (scheduler.Plugin, error) {
	return TaintToleration{}, nil
}

// Name implements scheduler.Plugin.
func (TaintToleration) Name() string { return TaintTolerationName }

func tolerated(tols []corev1.Toleration, t *corev1.Taint) bool {
	for i := range tols {
		if ToleratesTaint(&tols[i], t) {
			return true
		}
	}
	return false
}

// ToleratesTaint reports whether the toleration matches the taint: same
// effect (or none), same key (or none with Exists), and Exists or an equal
// value.
func ToleratesTaint(tol *corev1.Toleration, t *corev1.Taint) bool {
	if tol.Effect != "" && tol.Effect != t.Effect {
		return false
	}
	if tol.Key != "" && tol.Key != t.Key {
		return false
	}
	switch tol.Operator {
	case corev1.TolerationOpExists:
		return true
	case "", corev1.TolerationOpEqual:
		return tol.Key != "" && tol.Value == t.Value
	}
	return false
}

// Filter implements scheduler.FilterPlugin.
func (TaintToleration) Filter(_ context.Context, _ *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	taints := ni.Node().Spec.Taints
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerated(pod.Spec.Tolerations, t) {
			return scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return nil
}

// Score implements scheduler.ScorePlugin: the count of untolerated
// PreferNoSchedule taints (normalized so fewer is better).
func (TaintToleration) Score(_ context.Context, _ *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	var n int64
	taints := ni.Node().Spec.Taints
	for i := range taints {
		if taints[i].Effect == corev1.TaintEffectPreferNoSchedule && !tolerated(pod.Spec.Tolerations, &taints[i]) {
			n++
		}
	}
	return n, nil
}

// ScoreExtensions implements scheduler.ScorePlugin.
func (p TaintToleration) ScoreExtensions() scheduler.ScoreExtensions { return reverseNormalizer{} }

// defaultNormalizer scales scores so the highest becomes MaxNodeScore.
type defaultNormalizer struct{}

func (defaultNormalizer) NormalizeScore(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, scores []scheduler.NodeScore) *scheduler.Status {
	normalize(scores, false)
	return nil
}

// reverseNormalizer scales so that the lowest raw score becomes the best.
type reverseNormalizer struct{}

func (reverseNormalizer) NormalizeScore(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, scores []scheduler.NodeScore) *scheduler.Status {
	normalize(scores, true)
	return nil
}

func normalize(scores []scheduler.NodeScore, reverse bool) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s.Score)
	}
	if hi == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = scheduler.MaxNodeScore
			}
		}
		return
	}
	for i := range scores {
		v := scores[i].Score * scheduler.MaxNodeScore / hi
		if reverse {
			v = scheduler.MaxNodeScore - v
		}
		scores[i].Score = v
	}
}

// minMaxNormalize maps [lo,hi] to [0,100] (all 0 when equal).
func minMaxNormalize(scores []scheduler.NodeScore) {
	if len(scores) == 0 {
		return
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi == lo {
			scores[i].Score = 0
			continue
		}
		scores[i].Score = (scores[i].Score - lo) * scheduler.MaxNodeScore / (hi - lo)
	}
}
