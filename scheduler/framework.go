package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Plugin is the base of every plugin: it has a unique name. A plugin
// implements only the extension-point interfaces it needs; the framework
// finds them by type assertion.
type Plugin interface {
	Name() string
}

// QueuedPodInfo is a pod in the scheduling queue.
type QueuedPodInfo struct {
	*PodInfo
	// Timestamp is when the pod was first added to the queue.
	Timestamp time.Time
	// Attempts counts scheduling attempts.
	Attempts int

	// UnschedulableSince is when the pod last became unschedulable.
	UnschedulableSince time.Time
	// UnschedulablePlugins names the plugins that rejected the pod in its
	// last attempt (empty when unknown: then every event may help). The
	// scheduler sets it before Queue.AddUnschedulable.
	UnschedulablePlugins sets.Set[string]
	backoffExpiry        time.Time
	index                int
	seq                  uint64
}

// QueueSortPlugin orders the active queue. A profile has at most one.
type QueueSortPlugin interface {
	Plugin
	Less(a, b *QueuedPodInfo) bool
}

// PreFilterResult restricts the nodes to evaluate; nil NodeNames means all.
type PreFilterResult struct {
	NodeNames sets.Set[string]
}

// PreFilterPlugin runs once per cycle before filtering. It may compute
// state into CycleState, reject the pod (Unschedulable*), skip its own
// Filter (Skip), or restrict the candidate nodes.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status)
}

// PreFilterExtensions let preemption tell a PreFilter plugin's state that a
// pod was added to or removed from a node during what-if evaluation.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status
}

// FilterPlugin decides whether the pod can run on a node. It is called
// concurrently for different nodes with the same CycleState and must not
// write to it. Reject with Unschedulable or UnschedulableAndUnresolvable.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeInfo *NodeInfo) *Status
}

// PostFilterResult names a node nominated (e.g. by preemption).
type PostFilterResult struct {
	NominatedNodeName string
}

// PostFilterPlugin runs when no node fits, e.g. to preempt pods.
// filtered maps each node name to the status that rejected it.
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *corev1.Pod, filtered map[string]*Status) (*PostFilterResult, *Status)
}

// PreScorePlugin runs once before scoring with the feasible nodes.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *corev1.Pod, nodes []*NodeInfo) *Status
}

// Score bounds: plugins' normalized scores lie in [MinNodeScore,MaxNodeScore].
const (
	MinNodeScore int64 = 0
	MaxNodeScore int64 = 100
)

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// ScorePlugin ranks feasible nodes. It is called concurrently for different
// nodes. ScoreExtensions, if not nil, normalizes the scores of all nodes to
// [MinNodeScore, MaxNodeScore].
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeInfo *NodeInfo) (int64, *Status)
	ScoreExtensions() ScoreExtensions
}

// ScoreExtensions normalizes scores in place.
type ScoreExtensions interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *corev1.Pod, scores []NodeScore) *Status
}

// ReservePlugin is told when a node is reserved for the pod (Reserve) and
// when the reservation is undone (Unreserve, must be idempotent).
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string)
}

// PermitPlugin approves, rejects or delays (Wait with a timeout) binding.
type PermitPlugin interface {
	Plugin
	Permit(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) (*Status, time.Duration)
}

// PreBindPlugin runs before binding.
type PreBindPlugin interface {
	Plugin
	PreBind(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
}

// BindPlugin binds the pod. Skip passes to the next bind plugin; with none
// left the framework's Binder is used.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string) *Status
}

// PostBindPlugin is informed after a successful bind.
type PostBindPlugin interface {
	Plugin
	PostBind(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeName string)
}

// StateKey names data in a CycleState.
type StateKey string

// StateData is data a plugin keeps for one scheduling cycle.
type StateData interface {
	Clone() StateData
}

// CycleState carries plugin data through one scheduling cycle. Write it in
// PreFilter/PreScore; Filter and Score run concurrently and only read.
// Reads take no lock (copy-on-write), so Filter can read per node
// cheaply. Safe for concurrent use.
type CycleState struct {
	mu   sync.Mutex // serialises writers
	data atomic.Pointer[[]stateEntry]
	// filters and scorers are the plugins that did not Skip this cycle.
	filters []FilterPlugin
	scorers []int
}

type stateEntry struct {
	key StateKey
	val StateData
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{}
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, v StateData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cur []stateEntry
	if p := c.data.Load(); p != nil {
		cur = *p
	}
	next := make([]stateEntry, 0, len(cur)+1)
	for _, e := range cur {
		if e.key != key {
			next = append(next, e)
		}
	}
	next = append(next, stateEntry{key, v})
	c.data.Store(&next)
}

// ErrNotFound is returned by CycleState.Read for a missing key.
var ErrNotFound = errors.New("not found")

// Read returns the data under key, or an error wrapping ErrNotFound.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if p := c.data.Load(); p != nil {
		for _, e := range *p {
			if e.key == key {
				return e.val, nil
			}
		}
	}
	return nil, fmt.Errorf("cycle state %q: %w", key, ErrNotFound)
}

// Clone deep-copies the state (each value through its Clone).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	n := &CycleState{filters: c.filters, scorers: c.scorers}
	if p := c.data.Load(); p != nil {
		next := make([]stateEntry, len(*p))
		for i, e := range *p {
			next[i] = stateEntry{e.key, e.val.Clone()}
		}
		n.data.Store(&next)
	}
	return n
}

// NodeInfoLister reads the cycle's snapshot of nodes.
type NodeInfoLister interface {
	// List returns every node, in a stable order. Do not modify.
	List() []*NodeInfo
	// Get returns a node by name.
	Get(name string) (*NodeInfo, error)
	// HavePodsWithAffinityList lists nodes with at least one pod that has
	// (anti-)affinity terms.
	HavePodsWithAffinityList() []*NodeInfo
	// NumNodesWithImage returns how many nodes have the (normalized) image.
	NumNodesWithImage(image string) int
}

// PodEvictor removes pods chosen as preemption victims.
type PodEvictor interface {
	EvictPod(ctx context.Context, victim *corev1.Pod, preemptor *corev1.Pod) error
}

// Handle is what the framework offers plugins at construction time.
type Handle interface {
	// SnapshotSharedLister reads the snapshot of the current cycle.
	SnapshotSharedLister() NodeInfoLister
	// RunPreFilterExtensionAddPod/RemovePod update the PreFilter state in
	// a what-if evaluation (preemption).
	RunPreFilterExtensionAddPod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podToAdd *PodInfo, nodeInfo *NodeInfo) *Status
	RunPreFilterExtensionRemovePod(ctx context.Context, state *CycleState, podToSchedule *corev1.Pod, podToRemove *PodInfo, nodeInfo *NodeInfo) *Status
	// RunFilterPlugins runs all Filter plugins on one node.
	RunFilterPlugins(ctx context.Context, state *CycleState, pod *corev1.Pod, nodeInfo *NodeInfo) *Status
	// Evictor deletes preemption victims; may be nil.
	Evictor() PodEvictor
	// Parallelizer runs work over nodes.
	Parallelizer() Parallelizer
	// GetWaitingPod returns a pod held by a Permit plugin, or nil.
	GetWaitingPod(uid string) WaitingPod
	// PriorityOf returns the pod's scheduling priority.
	PriorityOf(pod *corev1.Pod) int32
}

// PluginFactory builds a plugin. args is the PluginConfig's Args (nil for
// defaults); plugins document the type they accept.
type PluginFactory func(args any, h Handle) (Plugin, error)

// Registry maps plugin names to factories. It is an explicit value passed
// to NewFramework; there are no global registries.
type Registry map[string]PluginFactory

// Register adds a factory; a duplicate name is an error.
func (r Registry) Register(name string, f PluginFactory) error {
	if _, ok := r[name]; ok {
		return fmt.Errorf("plugin %q: %w", name, ErrDuplicatePlugin)
	}
	r[name] = f
	return nil
}

// Merge adds every factory of o; a name already present is an error.
func (r Registry) Merge(o Registry) error {
	for name, f := range o {
		if err := r.Register(name, f); err != nil {
			return err
		}
	}
	return nil
}

// ErrDuplicatePlugin is wrapped when a plugin name is registered or enabled
// twice.
var ErrDuplicatePlugin = fmt.Errorf("duplicate plugin")

// ErrUnknownPlugin is wrapped when a profile names a plugin the registry
// does not have.
var ErrUnknownPlugin = fmt.Errorf("unknown plugin")

// PluginConfig enables one plugin in a profile.
type PluginConfig struct {
	// Name is the registry name.
	Name string
	// Weight multiplies the plugin's normalized score; 0 means 1.
	Weight int64
	// Args are passed to the factory.
	Args any
}

// Profile configures one framework: the schedulerName it serves and the
// plugins it runs. Each enabled plugin runs at every extension point it
// implements, in the order listed.
type Profile struct {
	// SchedulerName is matched against pod.spec.schedulerName.
	SchedulerName string
	// Plugins are the enabled plugins.
	Plugins []PluginConfig
	// Registry holds extra factories for this profile only (merged with the
	// framework's registry; duplicates are an error). ProfileFromAlgorithm
	// uses it.
	Registry Registry
	// PercentageOfNodesToScore bounds how many feasible nodes are looked
	// for: 0 means adaptive (50% - nodes/125, at least 5%, at least 100
	// nodes), 100 means all.
	PercentageOfNodesToScore int32
}
