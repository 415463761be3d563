package scheduler

import (
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// EventResource names the kind of object a cluster event is about.
type EventResource string

// Event resources.
const (
	// NodeResource events are about nodes.
	NodeResource EventResource = "Node"
	// AssignedPodResource events are about pods bound to a node (by any
	// scheduler): their requests, ports, labels and affinity terms are
	// what other pods fit against.
	AssignedPodResource EventResource = "AssignedPod"
	// WildCardResource matches every resource; only Queue.MoveAll and
	// timeouts use it.
	WildCardResource EventResource = "*"
)

// ActionType is a bit set saying what happened to an object. Updates are
// split by the fields that matter to scheduling, so that a node's
// heartbeat (conditions, images) is no event at all.
type ActionType uint32

// Action types.
const (
	Add ActionType = 1 << iota
	Delete
	// UpdateNodeUnschedulable: spec.unschedulable changed (cordon).
	UpdateNodeUnschedulable
	// UpdateNodeTaint: spec.taints changed.
	UpdateNodeTaint
	// UpdateNodeLabel: labels changed.
	UpdateNodeLabel
	// UpdateNodeAllocatable: status.allocatable changed.
	UpdateNodeAllocatable
	// UpdatePodLabel: an assigned pod's labels changed.
	UpdatePodLabel
	// UpdatePodScaleDown: an assigned pod's requests shrank (in-place
	// resize).
	UpdatePodScaleDown

	// Update is every kind of update.
	Update = UpdateNodeUnschedulable | UpdateNodeTaint | UpdateNodeLabel | UpdateNodeAllocatable | UpdatePodLabel | UpdatePodScaleDown
	// All is every action.
	All = Add | Delete | Update
)

var actionNames = []string{"Add", "Delete", "UpdateNodeUnschedulable", "UpdateNodeTaint", "UpdateNodeLabel", "UpdateNodeAllocatable", "UpdatePodLabel", "UpdatePodScaleDown"}

func (a ActionType) String() string {
	if a == All {
		return "All"
	}
	var parts []string
	for i, n := range actionNames {
		if a&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "None"
	}
	return strings.Join(parts, "|")
}

// ClusterEvent is a change of the cluster that may make pods schedulable:
// what happened (Action, a bit set) to which kind of object (Resource).
// Plugins register the events that can undo their rejections; the
// Runner (or a simulator) reports the events that happened.
type ClusterEvent struct {
	Resource EventResource
	Action   ActionType
}

// String formats the event as "Node/Add" or "Node/UpdateNodeTaint|UpdateNodeLabel".
func (e ClusterEvent) String() string { return string(e.Resource) + "/" + e.Action.String() }

// IsEmpty reports whether nothing relevant happened (no action bits).
func (e ClusterEvent) IsEmpty() bool { return e.Action == 0 }

// Match reports whether the registration e covers the event got: the same
// resource (or a wildcard on either side) and a shared action bit.
func (e ClusterEvent) Match(got ClusterEvent) bool {
	if e.Resource != got.Resource && e.Resource != WildCardResource && got.Resource != WildCardResource {
		return false
	}
	return e.Action&got.Action != 0
}

// Events the scheduler reports.
var (
	EventNodeAdd           = ClusterEvent{NodeResource, Add}
	EventNodeDelete        = ClusterEvent{NodeResource, Delete}
	EventAssignedPodAdd    = ClusterEvent{AssignedPodResource, Add}
	EventAssignedPodDelete = ClusterEvent{AssignedPodResource, Delete}
	// EventUnschedulableTimeout helps every pod: it is what
	// MoveAllToActiveOrBackoff and the unschedulable timeout stand for.
	EventUnschedulableTimeout = ClusterEvent{WildCardResource, All}
)

// NodeUpdateEvent returns the event for a node changing from old to new:
// the bits of the fields that changed and that scheduling reads. It is
// empty for a heartbeat that changed only conditions, images or
// annotations.
func NodeUpdateEvent(old, new *corev1.Node) ClusterEvent {
	var a ActionType
	if old.Spec.Unschedulable != new.Spec.Unschedulable {
		a |= UpdateNodeUnschedulable
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, new.Spec.Taints) {
		a |= UpdateNodeTaint
	}
	if !reflect.DeepEqual(old.Labels, new.Labels) {
		a |= UpdateNodeLabel
	}
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, new.Status.Allocatable) {
		a |= UpdateNodeAllocatable
	}
	return ClusterEvent{NodeResource, a}
}

// AssignedPodUpdateEvent returns the event for an assigned pod changing
// from old to new: label changes and shrinking requests. It is empty for
// status-only updates.
func AssignedPodUpdateEvent(old, new *corev1.Pod) ClusterEvent {
	var a ActionType
	if !reflect.DeepEqual(old.Labels, new.Labels) {
		a |= UpdatePodLabel
	}
	or, _ := PodRequests(old)
	nr, _ := PodRequests(new)
	if nr.MilliCPU < or.MilliCPU || nr.Memory < or.Memory || nr.EphemeralStorage < or.EphemeralStorage {
		a |= UpdatePodScaleDown
	}
	for name, q := range or.Scalar {
		if nr.Scalar[name] < q {
			a |= UpdatePodScaleDown
		}
	}
	return ClusterEvent{AssignedPodResource, a}
}

// QueueingHint is a plugin's answer to "may this event make the pod I
// rejected schedulable?".
type QueueingHint int

// Queueing hints.
const (
	// HintSkip: the event cannot help; the pod stays unschedulable.
	HintSkip QueueingHint = iota
	// HintQueue: the event may help; the pod is retried at once.
	HintQueue
)

// QueueingHintFn decides whether an event may help pod. For node events
// oldObj and newObj are *corev1.Node, for assigned pod events *corev1.Pod;
// oldObj is nil for Add and newObj is nil for Delete. An error counts as
// HintQueue. It is called with the queue's lock held: it must be quick and
// must not call the queue.
type QueueingHintFn func(pod *corev1.Pod, oldObj, newObj any) (QueueingHint, error)

// ClusterEventWithHint registers interest in an event, with an optional
// finer check (nil means HintQueue for every matching event).
type ClusterEventWithHint struct {
	Event          ClusterEvent
	QueueingHintFn QueueingHintFn
}

// EnqueueExtensions is implemented by plugins that reject pods
// (PreFilter, Filter, Reserve, Permit) to say which cluster events can
// make their rejections go away. A pod that such plugins rejected waits
// in the unschedulable set until one of them answers HintQueue for an event,
// and then is retried at once (no back-off). A rejecting plugin that does
// not implement EnqueueExtensions is taken to be helped by every event.
type EnqueueExtensions interface {
	Plugin
	EventsToRegister() []ClusterEventWithHint
}

// QueueingHintFunc reports whether ev may make qp schedulable, given the
// plugins that rejected it (qp.UnschedulablePlugins). The Scheduler gives
// its queue one that asks the pod's profile (Framework.QueueingHint).
type QueueingHintFunc func(qp *QueuedPodInfo, ev ClusterEvent, oldObj, newObj any) bool
