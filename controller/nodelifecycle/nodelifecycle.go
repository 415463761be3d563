package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/controller"
)

// Name is the controller's name in --controllers.
const Name = "nodelifecycle"

// LeaseNamespace holds the node heartbeats.
const LeaseNamespace = corev1.NamespaceNodeLease

// Defaults, as the kube-controller-manager flags of the same names.
const (
	DefaultNodeMonitorGracePeriod    = 40 * time.Second
	DefaultNodeStartupGracePeriod    = 60 * time.Second
	DefaultNodeMonitorPeriod         = 5 * time.Second
	DefaultPodEvictionTimeout        = 5 * time.Minute
	DefaultEvictionRate              = 0.1
	DefaultSecondaryEvictionRate     = 0.01
	DefaultLargeClusterSizeThreshold = 50
	DefaultUnhealthyZoneThreshold    = 0.55
	DefaultNodeCIDRMaskSize          = 24
)

// Options configure the controller. Client, Nodes, Leases and Pods are
// required; zero durations and rates take the defaults (a negative rate
// means zero).
type Options struct {
	Client kubernetes.Interface
	Nodes  coreinformers.NodeInformer
	Leases coordinationinformers.LeaseInformer
	Pods   coreinformers.PodInformer
	Clock  clock.WithTicker

	NodeMonitorGracePeriod    time.Duration // --node-monitor-grace-period
	NodeStartupGracePeriod    time.Duration // --node-startup-grace-period
	NodeMonitorPeriod         time.Duration // --node-monitor-period
	PodEvictionTimeout        time.Duration // --pod-eviction-timeout
	EvictionRate              float64       // --node-eviction-rate
	SecondaryEvictionRate     float64       // --secondary-node-eviction-rate
	LargeClusterSizeThreshold int           // --large-cluster-size-threshold
	UnhealthyZoneThreshold    float64       // --unhealthy-zone-threshold
	// ClusterCIDR enables pod CIDR allocation (--allocate-node-cidrs with
	// --cluster-cidr); NodeCIDRMaskSize defaults to 24.
	ClusterCIDR      netip.Prefix
	NodeCIDRMaskSize int
	// Recorder receives the events kubectl describe shows: on nodes,
	// RegisteredNode when the controller first sees one, RemovingNode when
	// it is gone, and NodeNotReady when the controller marks a Ready node
	// Unknown; on pods, TaintManagerEviction when one is evicted. nil
	// means none (Register uses Manager.EventRecorder("node-controller")).
	Recorder record.EventRecorder
}

// ZoneState is the health of a zone.
type ZoneState string

// Zone states.
const (
	StateNormal            ZoneState = "Normal"
	StatePartialDisruption ZoneState = "PartialDisruption"
	StateFullDisruption    ZoneState = "FullDisruption"
)

// Taints the controller manages.
var (
	NotReadyNoSchedule    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
	UnreachableNoSchedule = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	NotReadyNoExecute     = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	UnreachableNoExecute  = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
)

// Controller is the node lifecycle controller. Monitor and Start may not
// run concurrently with each other (Start calls Monitor).
type Controller struct {
	opts   Options
	nodes  corelisters.NodeLister
	leases coordinationlisters.LeaseLister
	pods   corelisters.PodLister
	synced []cache.InformerSynced

	mu      sync.Mutex
	health  map[string]*health
	zones   map[string]*zone
	pending map[string]time.Time // nodes waiting for a NoExecute taint, since
	tainted map[string]string    // node -> key of the NoExecute taint it carries
}

type health struct {
	uid       types.UID // the node's, for its events
	probe     time.Time // local time a heartbeat last changed
	leaseRenw time.Time
	heartbeat time.Time
	// ready is the node's Ready status at the last pass; markPods is set
	// when it left True and the node's pods are still to be marked not
	// ready.
	ready    corev1.ConditionStatus
	markPods bool
}

type zone struct {
	state ZoneState
	rate  float64
	next  time.Time // the limiter's next free token
	has   bool      // a token is banked
}

var _ controller.Runnable = (*Controller)(nil)

// New validates opts and returns the controller.
func New(opts Options) (*Controller, error) {
	if opts.Client == nil || opts.Nodes == nil || opts.Leases == nil || opts.Pods == nil {
		return nil, errors.New("nodelifecycle: Options.Client, Nodes, Leases and Pods are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.NodeMonitorGracePeriod, DefaultNodeMonitorGracePeriod)
	def(&opts.NodeStartupGracePeriod, DefaultNodeStartupGracePeriod)
	def(&opts.NodeMonitorPeriod, DefaultNodeMonitorPeriod)
	def(&opts.PodEvictionTimeout, DefaultPodEvictionTimeout)
	rate := func(r *float64, v float64) {
		if *r == 0 {
			*r = v
		} else if *r < 0 {
			*r = 0
		}
	}
	rate(&opts.EvictionRate, DefaultEvictionRate)
	rate(&opts.SecondaryEvictionRate, DefaultSecondaryEvictionRate)
	rate(&opts.UnhealthyZoneThreshold, DefaultUnhealthyZoneThreshold)
	if opts.LargeClusterSizeThreshold == 0 {
		opts.LargeClusterSizeThreshold = DefaultLargeClusterSizeThreshold
	}
	if opts.NodeCIDRMaskSize == 0 {
		opts.NodeCIDRMaskSize = DefaultNodeCIDRMaskSize
	}
	if opts.Recorder == nil {
		opts.Recorder = &record.FakeRecorder{} // no channel: discards
	}
	if opts.ClusterCIDR.IsValid() && (opts.NodeCIDRMaskSize < opts.ClusterCIDR.Bits() || opts.NodeCIDRMaskSize > opts.ClusterCIDR.Addr().BitLen()) {
		return nil, fmt.Errorf("nodelifecycle: node CIDR mask size %d does not fit cluster CIDR %s", opts.NodeCIDRMaskSize, opts.ClusterCIDR)
	}
	return &Controller{
		opts: opts, nodes: opts.Nodes.Lister(), leases: opts.Leases.Lister(), pods: opts.Pods.Lister(),
		synced: []cache.InformerSynced{opts.Nodes.Informer().HasSynced, opts.Leases.Informer().HasSynced, opts.Pods.Informer().HasSynced},
		health: map[string]*health{}, zones: map[string]*zone{}, pending: map[string]time.Time{}, tainted: map[string]string{},
	}, nil
}

// HasSynced reports whether the informers have synced.
func (c *Controller) HasSynced() bool {
	for _, s := range c.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Start waits for the informers, then runs Monitor every
// NodeMonitorPeriod until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	log := controller.LoggerFrom(ctx).With("controller", Name)
	t := c.opts.Clock.NewTicker(c.opts.NodeMonitorPeriod)
	defer t.Stop()
	for {
		if err := c.Monitor(ctx); err != nil && ctx.Err() == nil {
			log.Info("monitor nodes", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// ZoneKey is the zone of a node: its region and zone labels.
func ZoneKey(n *corev1.Node) string {
	return n.Labels[corev1.LabelTopologyRegion] + ":\x00:" + n.Labels[corev1.LabelTopologyZone]
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// ZoneStates returns the current state of every zone (after a Monitor).
func (c *Controller) ZoneStates() map[string]ZoneState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]ZoneState{}
	for k, z := range c.zones {
		out[k] = z.state
	}
	return out
}

// Monitor does one pass: node health, conditions, taints, zone states,
// rate-limited NoExecute taints, pod evictions and CIDR allocation.
func (c *Controller) Monitor(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Clock.Now()
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	var errs []error
	seen := map[string]bool{}
	for i, n := range nodes {
		seen[n.Name] = true
		up, err := c.checkHealth(ctx, n, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if up != nil {
			nodes[i] = up
		}
		if err := c.markPodsNotReady(ctx, nodes[i], now); err != nil {
			errs = append(errs, err)
		}
	}
	for name, h := range c.health {
		if !seen[name] {
			c.nodeEvent(name, h.uid, "RemovingNode", fmt.Sprintf("Removing Node %s from Controller", name))
			delete(c.health, name)
			delete(c.pending, name)
			delete(c.tainted, name)
		}
	}

	// Zone states and limiter rates.
	type counts struct{ total, notReady int }
	byZone := map[string]*counts{}
	for _, n := range nodes {
		k := ZoneKey(n)
		if byZone[k] == nil {
			byZone[k] = &counts{}
		}
		byZone[k].total++
		if rc := readyCondition(n); rc == nil || rc.Status != corev1.ConditionTrue {
			byZone[k].notReady++
		}
	}
	allFull := len(byZone) > 0
	for k, cnt := range byZone {
		st := StateNormal
		switch {
		case cnt.notReady == cnt.total && cnt.total > 0:
			st = StateFullDisruption
		case cnt.notReady > 2 && float64(cnt.notReady)/float64(cnt.total) >= c.opts.UnhealthyZoneThreshold:
			st = StatePartialDisruption
		}
		if st != StateFullDisruption {
			allFull = false
		}
		z := c.zones[k]
		if z == nil {
			z = &zone{has: true}
			c.zones[k] = z
		}
		z.state = st
		switch st {
		case StateNormal, StateFullDisruption:
			z.rate = c.opts.EvictionRate
		case StatePartialDisruption:
			z.rate = 0
			if cnt.total > c.opts.LargeClusterSizeThreshold {
				z.rate = c.opts.SecondaryEvictionRate
			}
		}
	}
	for k := range c.zones {
		if byZone[k] == nil {
			delete(c.zones, k)
		}
	}

	// Taints.
	for _, n := range nodes {
		if err := c.taint(ctx, n, now, allFull); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.evictPods(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if c.opts.ClusterCIDR.IsValid() {
		if err := c.allocateCIDRs(ctx, nodes); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkHealth records heartbeats and marks a silent node's conditions
// Unknown; it returns the updated node when it wrote one.
func (c *Controller) checkHealth(ctx context.Context, n *corev1.Node, now time.Time) (*corev1.Node, error) {
	h := c.health[n.Name]
	if h == nil || h.uid != n.UID {
		h = &health{uid: n.UID, probe: now}
		c.health[n.Name] = h
		c.nodeEvent(n.Name, n.UID, "RegisteredNode", fmt.Sprintf("Registered Node %s in Controller", n.Name))
	}
	if l, err := c.leases.Leases(LeaseNamespace).Get(n.Name); err == nil && l.Spec.RenewTime != nil && !l.Spec.RenewTime.Time.Equal(h.leaseRenw) {
		h.leaseRenw = l.Spec.RenewTime.Time
		h.probe = now
	}
	rc := readyCondition(n)
	if rc != nil && rc.Status != corev1.ConditionUnknown && !rc.LastHeartbeatTime.Time.Equal(h.heartbeat) {
		h.heartbeat = rc.LastHeartbeatTime.Time
		h.probe = now
	}
	grace := c.opts.NodeMonitorGracePeriod
	if rc == nil {
		grace = c.opts.NodeStartupGracePeriod
	}
	if now.Sub(h.probe) <= grace {
		return nil, nil
	}
	if rc != nil && rc.Status == corev1.ConditionUnknown {
		return nil, nil
	}
	var out *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.opts.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur = cur.DeepCopy()
		t := metav1.NewTime(now)
		found := false
		for i := range cur.Status.Conditions {
			cond := &cur.Status.Conditions[i]
			if cond.Status == corev1.ConditionUnknown {
				continue
			}
			if cond.Type == corev1.NodeReady {
				found = true
			}
			cond.Status, cond.Reason, cond.Message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."
			cond.LastTransitionTime = t
		}
		if !found && readyCondition(cur) == nil {
			cur.Status.Conditions = append(cur.Status.Conditions, corev1.NodeCondition{
				Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated",
				Message: "Kubelet never posted node status.", LastHeartbeatTime: t, LastTransitionTime: t,
			})
		}
		out, err = c.opts.Client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node %q: mark Unknown: %w", n.Name, err)
	}
	if rc != nil && rc.Status == corev1.ConditionTrue {
		c.statusEvent(out, "NodeNotReady")
	}
	return out, nil
}

// markPodsNotReady sets the Ready condition of the node's pods to False
// once the node's own Ready condition stops being True (the controller
// marked it Unknown, or the node agent reported False), as Kubernetes'
// node lifecycle controller does: the endpoints controllers then move the
// pods to the not-ready addresses at once, instead of sending traffic to
// them until they are evicted. Each pod gets a NodeNotReady event. A pass
// that fails is retried at the next Monitor; the node agent sets Ready
// again when it is back and its containers are.
func (c *Controller) markPodsNotReady(ctx context.Context, n *corev1.Node, now time.Time) error {
	h := c.health[n.Name]
	if h == nil {
		return nil
	}
	st := corev1.ConditionUnknown
	if rc := readyCondition(n); rc != nil {
		st = rc.Status
	}
	if h.ready == corev1.ConditionTrue && st != corev1.ConditionTrue {
		h.markPods = true
	}
	h.ready = st
	if st == corev1.ConditionTrue {
		h.markPods = false
	}
	if !h.markPods {
		return nil
	}
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pods {
		if p.Spec.NodeName != n.Name || !controller.PodReady(p) {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := c.opts.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cur.UID != p.UID || cur.Spec.NodeName != n.Name || !controller.PodReady(cur) {
				return nil
			}
			cur = cur.DeepCopy()
			for i := range cur.Status.Conditions {
				if cond := &cur.Status.Conditions[i]; cond.Type == corev1.PodReady {
					cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, metav1.NewTime(now)
				}
			}
			if _, err := c.opts.Client.CoreV1().Pods(cur.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return err
			}
			c.opts.Recorder.Event(cur, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
			return nil
		})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("mark pod %q on node %q not ready: %w", p.Namespace+"/"+p.Name, n.Name, err))
		}
	}
	if len(errs) == 0 {
		h.markPods = false
	}
	return errors.Join(errs...)
}

// nodeRef is the node as the involved object of its events: a cluster
// object, so the events go to the default namespace.
func nodeRef(name string, uid types.UID) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, UID: uid}
}

// nodeEvent records "Node <name> event: <msg>" on the node.
func (c *Controller) nodeEvent(name string, uid types.UID, reason, msg string) {
	c.opts.Recorder.Eventf(nodeRef(name, uid), corev1.EventTypeNormal, reason, "Node %s event: %s", name, msg)
}

// statusEvent records that the node's status is now status.
func (c *Controller) statusEvent(n *corev1.Node, status string) {
	c.opts.Recorder.Eventf(nodeRef(n.Name, n.UID), corev1.EventTypeNormal, status, "Node %s status is now: %s", n.Name, status)
}

func hasTaint(n *corev1.Node, t corev1.Taint) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(x corev1.Taint) bool { return x.MatchTaint(&t) })
}

// taint reconciles the NoSchedule taints at once and the NoExecute taints
// through the zone's limiter.
func (c *Controller) taint(ctx context.Context, n *corev1.Node, now time.Time, allFull bool) error {
	rc := readyCondition(n)
	status := corev1.ConditionUnknown
	if rc != nil {
		status = rc.Status
	}
	var want []corev1.Taint
	var noExec corev1.Taint
	switch status {
	case corev1.ConditionFalse:
		want = append(want, NotReadyNoSchedule)
		noExec = NotReadyNoExecute
	case corev1.ConditionUnknown:
		want = append(want, UnreachableNoSchedule)
		noExec = UnreachableNoExecute
	}
	if noExec.Key != "" && !allFull {
		switch {
		case c.tainted[n.Name] != "" || hasTaint(n, NotReadyNoExecute) || hasTaint(n, UnreachableNoExecute):
			// Already evicting: swapping not-ready for unreachable costs no token.
			want = append(want, noExec)
			delete(c.pending, n.Name)
		default:
			if _, ok := c.pending[n.Name]; !ok {
				c.pending[n.Name] = now
			}
			if c.take(ZoneKey(n), now) {
				want = append(want, noExec)
				delete(c.pending, n.Name)
			}
		}
	} else {
		delete(c.pending, n.Name)
	}
	managed := []corev1.Taint{NotReadyNoSchedule, UnreachableNoSchedule, NotReadyNoExecute, UnreachableNoExecute}
	isManaged := func(t corev1.Taint) bool {
		return slices.ContainsFunc(managed, func(m corev1.Taint) bool { return m.MatchTaint(&t) })
	}
	isWanted := func(t corev1.Taint) bool {
		return slices.ContainsFunc(want, func(m corev1.Taint) bool { return m.MatchTaint(&t) })
	}
	// Compute on the cached node first to skip the write when nothing changes.
	desired := func(cur []corev1.Taint) ([]corev1.Taint, bool) {
		var out []corev1.Taint
		changed := false
		for _, t := range cur {
			if isManaged(t) && !isWanted(t) {
				changed = true
				continue
			}
			out = append(out, t)
		}
		for _, w := range want {
			if !slices.ContainsFunc(cur, func(t corev1.Taint) bool { return w.MatchTaint(&t) }) {
				w.TimeAdded = &metav1.Time{Time: now}
				out = append(out, w)
				changed = true
			}
		}
		return out, changed
	}
	if _, changed := desired(n.Spec.Taints); !changed {
		c.recordNoExec(n.Name, noExec, want)
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := c.opts.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		taints, changed := desired(cur.Spec.Taints)
		if !changed {
			return nil
		}
		cur = cur.DeepCopy()
		cur.Spec.Taints = taints
		_, err = c.opts.Client.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node %q: taints: %w", n.Name, err)
	}
	c.recordNoExec(n.Name, noExec, want)
	return nil
}

// recordNoExec remembers which NoExecute taint the node carries, so that a
// stale cache does not spend a second token on it.
func (c *Controller) recordNoExec(node string, noExec corev1.Taint, want []corev1.Taint) {
	if noExec.Key != "" && slices.ContainsFunc(want, func(m corev1.Taint) bool { return m.MatchTaint(&noExec) }) {
		c.tainted[node] = noExec.Key
	} else {
		delete(c.tainted, node)
	}
}

// take takes a token of the zone's limiter: a bucket of one token filling
// at the zone's rate on the injected clock.
func (c *Controller) take(zoneKey string, now time.Time) bool {
	z := c.zones[zoneKey]
	if z == nil || z.rate <= 0 {
		return false
	}
	if !z.has && !now.Before(z.next) {
		z.has = true
	}
	if !z.has {
		return false
	}
	z.has = false
	z.next = now.Add(time.Duration(float64(time.Second) / z.rate))
	return true
}

// evictionTime is when pod must leave a node with the NoExecute taints;
// ok is false when it tolerates them forever.
func (c *Controller) evictionTime(pod *corev1.Pod, taints []corev1.Taint) (time.Time, bool) {
	var at time.Time
	forever := true
	for _, t := range taints {
		added := time.Time{}
		if t.TimeAdded != nil {
			added = t.TimeAdded.Time
		}
		var when time.Time
		tolerated, limited := false, false
		for _, tol := range pod.Spec.Tolerations {
			if tol.ToleratesTaint(klog.Background(), &t, false) {
				tolerated = true
				if tol.TolerationSeconds != nil {
					limited = true
					w := added.Add(time.Duration(max(0, *tol.TolerationSeconds)) * time.Second)
					if when.IsZero() || w.Before(when) {
						when = w
					}
				} else {
					limited = false
					when = time.Time{}
					break
				}
			}
		}
		switch {
		case !tolerated:
			when = added.Add(c.opts.PodEvictionTimeout)
		case !limited:
			continue
		}
		forever = false
		if at.IsZero() || when.Before(at) {
			at = when
		}
	}
	return at, !forever
}

func (c *Controller) evictPods(ctx context.Context, now time.Time) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	noExec := map[string][]corev1.Taint{}
	for _, n := range nodes {
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoExecute {
				noExec[n.Name] = append(noExec[n.Name], t)
			}
		}
	}
	if len(noExec) == 0 {
		return nil
	}
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pods {
		taints := noExec[p.Spec.NodeName]
		if len(taints) == 0 || p.DeletionTimestamp != nil {
			continue
		}
		at, ok := c.evictionTime(p, taints)
		if !ok || now.Before(at) {
			continue
		}
		err := c.opts.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		switch {
		case err == nil:
			c.opts.Recorder.Eventf(p, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
		case !apierrors.IsNotFound(err) && !apierrors.IsConflict(err):
			errs = append(errs, fmt.Errorf("evict pod %q from node %q: %w", p.Namespace+"/"+p.Name, p.Spec.NodeName, err))
		}
	}
	return errors.Join(errs...)
}

// allocateCIDRs gives nodes without spec.podCIDR the next free subnet.
func (c *Controller) allocateCIDRs(ctx context.Context, nodes []*corev1.Node) error {
	used := map[netip.Prefix]bool{}
	for _, n := range nodes {
		if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil {
			used[p.Masked()] = true
		}
	}
	base := c.opts.ClusterCIDR.Masked()
	size := c.opts.NodeCIDRMaskSize
	next := netip.PrefixFrom(base.Addr(), size)
	step := func(p netip.Prefix) (netip.Prefix, bool) {
		// Add 2^(bits-size) to the address.
		b := p.Addr().AsSlice()
		carry := 1
		for i := (size - 1) / 8; i >= 0 && carry > 0; i-- {
			inc := carry
			if i == (size-1)/8 {
				inc = 1 << (7 - (size-1)%8)
			}
			v := int(b[i]) + inc
			b[i] = byte(v)
			carry = v >> 8
		}
		a, _ := netip.AddrFromSlice(b)
		np := netip.PrefixFrom(a, size)
		return np, carry == 0 && base.Contains(a)
	}
	var errs []error
	for _, n := range nodes {
		if n.Spec.PodCIDR != "" {
			continue
		}
		for used[next] {
			var ok bool
			if next, ok = step(next); !ok {
				return fmt.Errorf("node %q: cluster CIDR %s exhausted", n.Name, base)
			}
		}
		cidr := next.String()
		patch := fmt.Appendf(nil, `{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, cidr, cidr)
		if _, err := c.opts.Client.CoreV1().Nodes().Patch(ctx, n.Name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("node %q: set pod CIDR: %w", n.Name, err))
			continue
		}
		used[next] = true
	}
	return errors.Join(errs...)
}

// Register adds the controller to m; opts' Client, informers and Clock are
// filled from m.
func Register(m *controller.Manager, opts Options) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		o := opts
		o.Client, o.Nodes, o.Leases, o.Pods, o.Clock = m.Client(), f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods(), m.Clock()
		if o.Recorder == nil {
			o.Recorder = m.EventRecorder("node-controller")
		}
		return New(o)
	}})
}
