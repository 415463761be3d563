package plugins

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantryhq/gantry/scheduler"
)

// The plugins that reject pods say here which cluster events can undo a
// rejection (scheduler.EnqueueExtensions), so that a pod waits for the
// events that may help it and is retried at once when one comes: a
// cordoned node's uncordon, a deleted pod's freed cpu, a new node's
// labels. Hints err on the side of Queue: a needless retry costs one
// scheduling cycle, a missed one leaves a pod pending.

var (
	_ scheduler.EnqueueExtensions = NodeUnschedulable{}
	_ scheduler.EnqueueExtensions = NodeName{}
	_ scheduler.EnqueueExtensions = NodePorts{}
	_ scheduler.EnqueueExtensions = (*NodeResourcesFit)(nil)
	_ scheduler.EnqueueExtensions = NodeAffinity{}
	_ scheduler.EnqueueExtensions = TaintToleration{}
	_ scheduler.EnqueueExtensions = (*PodTopologySpread)(nil)
	_ scheduler.EnqueueExtensions = (*InterPodAffinity)(nil)
)

// objects casts a hint's arguments; either may be nil.
func nodes(oldObj, newObj any) (old, new *corev1.Node) {
	old, _ = oldObj.(*corev1.Node)
	new, _ = newObj.(*corev1.Node)
	return old, new
}

func pods(oldObj, newObj any) (old, new *corev1.Pod) {
	old, _ = oldObj.(*corev1.Pod)
	new, _ = newObj.(*corev1.Pod)
	return old, new
}

func hint(b bool) (scheduler.QueueingHint, error) {
	if b {
		return scheduler.HintQueue, nil
	}
	return scheduler.HintSkip, nil
}

// nodeBecame is the common shape of node hints: queue when the node now
// passes check and did not before (or is new).
func nodeBecame(oldObj, newObj any, check func(*corev1.Node) bool) (scheduler.QueueingHint, error) {
	old, n := nodes(oldObj, newObj)
	if n == nil {
		return scheduler.HintQueue, nil
	}
	return hint(check(n) && (old == nil || !check(old)))
}

// EventsToRegister implements scheduler.EnqueueExtensions: a node added or
// uncordoned.
func (NodeUnschedulable) EventsToRegister() []scheduler.ClusterEventWithHint {
	return []scheduler.ClusterEventWithHint{{
		Event: scheduler.ClusterEvent{Resource: scheduler.NodeResource, Action: scheduler.Add | scheduler.UpdateNodeUnschedulable},
		QueueingHintFn: func(pod *corev1.Pod, oldObj, newObj any) (scheduler.QueueingHint, error) {
			return nodeBecame(oldObj, newObj, func(n *corev1.Node) bool {
				return !n.Spec.Unschedulable || tolerated(pod.Spec.Tolerations, &unschedulableTaint)
			})
		},
	}}
}

// EventsToRegister implements scheduler.EnqueueExtensions: the named node
// added.
func (NodeName) EventsToRegister() []scheduler.ClusterEventWithHint {
	return []scheduler.ClusterEventWithHint{{
		Event: scheduler.EventNodeAdd,
		QueueingHintFn: func(pod *corev1.Pod, _, newObj any) (scheduler.QueueingHint, error) {
			_, n := nodes(nil, newObj)
			return hint(n == nil || pod.Spec.NodeName == "" || pod.Spec.NodeName == n.Name)
		},
	}}
}

// EventsToRegister implements scheduler.EnqueueExtensions: a pod holding
// a host port the pod wants deleted, or a node added.
func (NodePorts) EventsToRegister() []scheduler.ClusterEventWithHint {
	return []scheduler.ClusterEventWithHint{
		{Event: scheduler.EventNodeAdd},
		{
			Event: scheduler.EventAssignedPodDelete,
			QueueingHintFn: func(pod *corev1.Pod, oldObj, _ any) (scheduler.QueueingHint, error) {
				gone, _ := pods(oldObj, nil)
				if gone == nil {
					return scheduler.HintQueue, nil
				}
				for _, want := range scheduler.PodHostPorts(pod) {
					for _, freed := range scheduler.PodHostPorts(gone) {
						if want.Conflicts(freed) {
							return scheduler.HintQueue, nil
						}
					}
				}
				return scheduler.HintSkip, nil
			},
		},
	}
}

// EventsToRegister implements scheduler.EnqueueExtensions: an assigned
// pod deleted or shrunk (frees requests and a pod slot), or a node added
// or resized that could hold the pod on its own.
func (*NodeResourcesFit) EventsToRegister() []scheduler.ClusterEventWithHint {
	return []scheduler.ClusterEventWithHint{
		{Event: scheduler.ClusterEvent{Resource: scheduler.AssignedPodResource, Action: scheduler.Delete | scheduler.UpdatePodScaleDown}},
		{
			Event: scheduler.ClusterEvent{Resource: scheduler.NodeResource, Action: scheduler.Add | scheduler.UpdateNodeAllocatable},
			QueueingHintFn: func(pod *corev1.Pod, _, newObj any) (scheduler.QueueingHint, error) {
				_, n := nodes(nil, newObj)
				if n == nil {
					return scheduler.HintQueue, nil
				}
				return hint(fitsEmpty(pod, n))
			},
		},
	}
}

// fitsEmpty reports whether the pod's requests fit the node's allocatable
// with nothing else on it.
func fitsEmpty(pod *corev1.Pod, n *corev1.Node) bool {
	a := scheduler.NewResource(n.Status.Allocatable)
	r, _ := scheduler.PodRequests(pod)
	if a.AllowedPodNumber < 1 || r.MilliCPU > a.MilliCPU || r.Memory > a.Memory || r.EphemeralStorage > a.EphemeralStorage {
		return false
	}
	for name, q := range r.Scalar {
		if q > a.Scalar[name] {
			return false
		}
	}
	return true
}

// EventsToRegister implements scheduler.EnqueueExtensions: a node added
// or relabelled that now matches the pod's nodeSelector and required
// node affinity.
func (NodeAffinity) EventsToRegister() []scheduler.ClusterEventWithHint {
	return []scheduler.ClusterEventWithHint{{
		Event: scheduler.ClusterEvent{Resource: scheduler.NodeResource, Action: scheduler.Add | scheduler.UpdateNodeLabel},
		QueueingHintFn: func(pod *corev1.Pod, oldObj, newObj any) (scheduler.QueueingHint, error) {
			r, err := NewRequiredNodeAffinity(pod)
			if err != nil {
				return scheduler.HintSkip, nil // never schedulable: the pod must change
			}
			return nodeBecame(oldObj, newObj, r.Match)
		},
	}}
}

// EventsToRegister implements scheduler.EnqueueExtensions: a node added,
// or whose taints changed, that the pod now tolerates.
func (TaintToleration) EventsToRegister() []scheduler.ClusterEventWithHint {
	return []scheduler.ClusterEventWithHint{{
		Event: scheduler.ClusterEvent{Resource: scheduler.NodeResource, Action: scheduler.Add | scheduler.UpdateNodeTaint},
		QueueingHintFn: func(pod *corev1.Pod, oldObj, newObj any) (scheduler.QueueingHint, error) {
			return nodeBecame(oldObj, newObj, func(n *corev1.Node) bool { return toleratesNode(pod, n) })
		},
	}}
}

// EventsToRegister implements scheduler.EnqueueExtensions: a pod that a
// constraint counts comes, goes or is relabelled; a node with a topology
// key comes, goes, or changes labels or taints (domains change).
func (*PodTopologySpread) EventsToRegister() []scheduler.ClusterEventWithHint {
	return []scheduler.ClusterEventWithHint{
		{
			Event: scheduler.ClusterEvent{Resource: scheduler.AssignedPodResource, Action: scheduler.Add | scheduler.Delete | scheduler.UpdatePodLabel},
			QueueingHintFn: func(pod *corev1.Pod, oldObj, newObj any) (scheduler.QueueingHint, error) {
				old, n := pods(oldObj, newObj)
				for _, c := range pod.Spec.TopologySpreadConstraints {
					sel, err := spreadSelector(pod, &c)
					if err != nil {
						return scheduler.HintSkip, nil
					}
					for _, other := range []*corev1.Pod{old, n} {
						if other != nil && other.Namespace == pod.Namespace && sel.Matches(labels.Set(other.Labels)) {
							return scheduler.HintQueue, nil
						}
					}
				}
				return scheduler.HintSkip, nil
			},
		},
		{
			Event: scheduler.ClusterEvent{Resource: scheduler.NodeResource, Action: scheduler.Add | scheduler.Delete | scheduler.UpdateNodeLabel | scheduler.UpdateNodeTaint},
			QueueingHintFn: func(pod *corev1.Pod, oldObj, newObj any) (scheduler.QueueingHint, error) {
				old, n := nodes(oldObj, newObj)
				for _, c := range pod.Spec.TopologySpreadConstraints {
					for _, node := range []*corev1.Node{old, n} {
						if node == nil {
							continue
						}
						if _, ok := node.Labels[c.TopologyKey]; ok {
							return scheduler.HintQueue, nil
						}
					}
				}
				return scheduler.HintSkip, nil
			},
		},
	}
}

// EventsToRegister implements scheduler.EnqueueExtensions: for pods with
// required pod affinity, an assigned pod added or relabelled (it may be
// the one to join); for pods with required anti-affinity, or when the
// changed pod has some, an assigned pod deleted or relabelled; any node
// added or relabelled (new topology domains).
func (*InterPodAffinity) EventsToRegister() []scheduler.ClusterEventWithHint {
	hasAffinity := func(p *corev1.Pod) bool {
		a := p.Spec.Affinity
		return a != nil && a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0
	}
	hasAnti := func(p *corev1.Pod) bool {
		a := p.Spec.Affinity
		return a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0
	}
	return []scheduler.ClusterEventWithHint{
		{
			Event: scheduler.ClusterEvent{Resource: scheduler.AssignedPodResource, Action: scheduler.Add | scheduler.UpdatePodLabel},
			QueueingHintFn: func(pod *corev1.Pod, _, _ any) (scheduler.QueueingHint, error) {
				return hint(hasAffinity(pod))
			},
		},
		{
			Event: scheduler.ClusterEvent{Resource: scheduler.AssignedPodResource, Action: scheduler.Delete | scheduler.UpdatePodLabel},
			QueueingHintFn: func(pod *corev1.Pod, oldObj, _ any) (scheduler.QueueingHint, error) {
				old, _ := pods(oldObj, nil)
				return hint(hasAnti(pod) || old == nil || hasAnti(old))
			},
		},
		{Event: scheduler.ClusterEvent{Resource: scheduler.NodeResource, Action: scheduler.Add | scheduler.UpdateNodeLabel}},
	}
}
