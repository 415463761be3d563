package nodelifecycle_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/defaulttolerationseconds"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/nodelifecycle"
)

const wait = 20 * time.Second

type env struct {
	t   *testing.T
	cs  kubernetes.Interface
	clk *clocktesting.FakeClock
	c   *nodelifecycle.Controller
	f   informers.SharedInformerFactory
	ctx context.Context
}

func newEnv(t *testing.T, opts nodelifecycle.Options) *env {
	return newEnvWith(t, apiserver.Options{}, opts)
}

// newEnvWith is newEnv with an API server made with apiOpts.
func newEnvWith(t *testing.T, apiOpts apiserver.Options, opts nodelifecycle.Options) *env {
	s := controllertest.Start(t, apiOpts)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := informers.NewSharedInformerFactory(s.Client, 0)
	opts.Client, opts.Clock = s.Client, clk
	if opts.Recorder == nil {
		b := record.NewBroadcaster()
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.Client.CoreV1().Events("")})
		t.Cleanup(b.Shutdown)
		opts.Recorder = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"})
	}
	opts.Nodes, opts.Leases, opts.Pods = f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods()
	c, err := nodelifecycle.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	controllertest.Eventually(t, wait, "synced", func() (bool, error) { return c.HasSynced(), nil })
	return &env{t: t, cs: s.Client, clk: clk, c: c, f: f, ctx: ctx}
}

// node creates a node in zone with the given Ready status, heartbeat now.
func (e *env) node(name, zone string, ready corev1.ConditionStatus) {
	e.t.Helper()
	n, err := e.cs.CoreV1().Nodes().Create(e.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{corev1.LabelTopologyZone: zone}}}, metav1.CreateOptions{})
	require.NoError(e.t, err)
	now := metav1.NewTime(e.clk.Now())
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: now, LastTransitionTime: now}}
	_, err = e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, n, metav1.UpdateOptions{})
	require.NoError(e.t, err)
	_, err = e.cs.CoordinationV1().Leases(nodelifecycle.LeaseNamespace).Create(e.ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), RenewTime: &metav1.MicroTime{Time: e.clk.Now()}},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

// renew renews the node's lease at the fake now and waits until the
// controller's cache sees it.
func (e *env) renew(name string) {
	e.t.Helper()
	l, err := e.cs.CoordinationV1().Leases(nodelifecycle.LeaseNamespace).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	l.Spec.RenewTime = &metav1.MicroTime{Time: e.clk.Now()}
	l, err = e.cs.CoordinationV1().Leases(nodelifecycle.LeaseNamespace).Update(e.ctx, l, metav1.UpdateOptions{})
	require.NoError(e.t, err)
	controllertest.Eventually(e.t, wait, "lease cached", func() (bool, error) {
		got, err := e.f.Coordination().V1().Leases().Lister().Leases(nodelifecycle.LeaseNamespace).Get(name)
		return err == nil && got.ResourceVersion == l.ResourceVersion, nil
	})
}

func (e *env) waitNodes(n int) {
	e.t.Helper()
	controllertest.Eventually(e.t, wait, "nodes cached", func() (bool, error) {
		ns, err := e.f.Core().V1().Nodes().Lister().List(labels.Everything())
		if err != nil || len(ns) != n {
			return false, err
		}
		for _, x := range ns {
			if len(x.Status.Conditions) == 0 {
				return false, nil
			}
		}
		ls, err := e.f.Coordination().V1().Leases().Lister().List(labels.Everything())
		return err == nil && len(ls) >= n, err
	})
}

func (e *env) monitor() {
	e.t.Helper()
	require.NoError(e.t, e.c.Monitor(e.ctx))
}

func (e *env) get(name string) *corev1.Node {
	e.t.Helper()
	n, err := e.cs.CoreV1().Nodes().Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return n
}

func has(n *corev1.Node, t corev1.Taint) bool {
	for _, x := range n.Spec.Taints {
		if x.MatchTaint(&t) {
			return true
		}
	}
	return false
}

func ready(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func (e *env) pod(name, node string, tols ...corev1.Toleration) {
	e.t.Helper()
	_, err := e.cs.CoreV1().Pods("default").Create(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: node, Tolerations: tols, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

// podExists reports whether the pod is there and not being deleted (a
// bound pod waits for its node agent after the eviction's delete).
func (e *env) podExists(name string) bool {
	e.t.Helper()
	p, err := e.cs.CoreV1().Pods("default").Get(e.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(e.t, err)
	return p.DeletionTimestamp == nil
}

// step advances the fake clock, keeps the healthy nodes' leases fresh and
// runs a monitor pass once the informer caches show the pods.
func (e *env) step(d time.Duration, healthy ...string) {
	e.t.Helper()
	e.clk.Step(d)
	for _, n := range healthy {
		e.renew(n)
	}
	e.monitor()
}

func TestGracePeriodTaintsAndEvictions(t *testing.T) {
	e := newEnv(t, nodelifecycle.Options{})
	e.node("n1", "a", corev1.ConditionTrue)
	e.node("n2", "a", corev1.ConditionTrue)
	e.pod("plain", "n1")
	e.pod("tol60", "n1", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)})
	e.pod("forever", "n1", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	e.waitNodes(2)
	controllertest.Eventually(t, wait, "pods cached", func() (bool, error) {
		ps, err := e.f.Core().V1().Pods().Lister().List(labels.Everything())
		return len(ps) == 3, err
	})
	e.monitor()

	e.step(40*time.Second, "n2") // exactly the grace period: still fine
	require.Equal(t, corev1.ConditionTrue, ready(e.get("n1")))
	require.Empty(t, e.get("n1").Spec.Taints)

	e.step(time.Second, "n2") // 41s without a heartbeat
	n1 := e.get("n1")
	require.Equal(t, corev1.ConditionUnknown, ready(n1))
	controllertest.Eventually(t, wait, "taints", func() (bool, error) {
		e.monitor()
		n1 = e.get("n1")
		return has(n1, nodelifecycle.UnreachableNoSchedule) && has(n1, nodelifecycle.UnreachableNoExecute), nil
	})
	require.Empty(t, e.get("n2").Spec.Taints)
	require.Equal(t, corev1.ConditionTrue, ready(e.get("n2")))

	e.step(59*time.Second, "n2")
	require.True(t, e.podExists("tol60"), "tolerationSeconds 60 not yet over")
	e.step(time.Second, "n2")
	controllertest.Eventually(t, wait, "tol60 evicted", func() (bool, error) { e.monitor(); return !e.podExists("tol60"), nil })
	controllertest.Eventually(t, wait, "eviction event", func() (bool, error) {
		return slices.Contains(e.events("Pod", "default", "tol60"), "Normal TaintManagerEviction Marking for deletion Pod default/tol60"), nil
	})
	require.True(t, e.podExists("plain"))
	e.step(4*time.Minute-time.Second, "n2") // 4m59s after the taint
	require.True(t, e.podExists("plain"), "pod-eviction-timeout not yet over")
	e.step(time.Second, "n2")
	controllertest.Eventually(t, wait, "plain evicted", func() (bool, error) { e.monitor(); return !e.podExists("plain"), nil })
	e.step(time.Hour, "n2")
	require.True(t, e.podExists("forever"), "a toleration without seconds lasts forever")

	// The node comes back: the kubelet posts Ready again.
	n1 = e.get("n1")
	now := metav1.NewTime(e.clk.Now())
	n1.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now}}
	_, err := e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, n1, metav1.UpdateOptions{})
	require.NoError(t, err)
	e.renew("n1")
	controllertest.Eventually(t, wait, "taints removed", func() (bool, error) {
		e.monitor()
		return len(e.get("n1").Spec.Taints) == 0, nil
	})
}

func TestEvictionRatesAndZones(t *testing.T) {
	type zone struct {
		name            string
		nodes, notReady int
	}
	type check struct {
		at      time.Duration // since the first pass
		tainted int           // nodes with the not-ready NoExecute taint so far
	}
	tests := []struct {
		name   string
		zones  []zone
		checks []check
		state  nodelifecycle.ZoneState
	}{
		{"normal zone at 0.1/s", []zone{{"a", 10, 3}}, []check{{0, 1}, {5 * time.Second, 1}, {10 * time.Second, 2}, {19 * time.Second, 2}, {20 * time.Second, 3}, {time.Minute, 3}}, nodelifecycle.StateNormal},
		{"partial disruption in a small cluster stops", []zone{{"a", 10, 6}}, []check{{0, 0}, {time.Hour, 0}}, nodelifecycle.StatePartialDisruption},
		{"two not ready is never a disruption", []zone{{"a", 3, 2}}, []check{{0, 1}, {10 * time.Second, 2}}, nodelifecycle.StateNormal},
		{"partial disruption in a large zone at 0.01/s", []zone{{"a", 60, 34}}, []check{{0, 1}, {99 * time.Second, 1}, {100 * time.Second, 2}, {200 * time.Second, 3}}, nodelifecycle.StatePartialDisruption},
		{"below the 0.55 threshold in a large zone", []zone{{"a", 60, 32}}, []check{{0, 1}, {10 * time.Second, 2}}, nodelifecycle.StateNormal},
		{"one zone fully down is evicted at the normal rate", []zone{{"a", 4, 4}, {"b", 4, 0}}, []check{{0, 1}, {10 * time.Second, 2}, {40 * time.Second, 3}, {50 * time.Second, 4}}, nodelifecycle.StateFullDisruption},
		{"every zone fully down stops all evictions", []zone{{"a", 3, 3}, {"b", 2, 2}}, []check{{0, 0}, {time.Hour, 0}}, nodelifecycle.StateFullDisruption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Heartbeats do not matter here: Ready is posted False.
			e := newEnv(t, nodelifecycle.Options{NodeMonitorGracePeriod: 1000 * time.Hour})
			total := 0
			for _, z := range tt.zones {
				for i := range z.nodes {
					st := corev1.ConditionTrue
					if i < z.notReady {
						st = corev1.ConditionFalse
					}
					e.node(fmt.Sprintf("%s-%02d", z.name, i), z.name, st)
					total++
				}
			}
			e.waitNodes(total)
			start := e.clk.Now()
			for _, c := range tt.checks {
				e.clk.SetTime(start.Add(c.at))
				count := func() int {
					l, err := e.cs.CoreV1().Nodes().List(e.ctx, metav1.ListOptions{})
					require.NoError(t, err)
					n := 0
					for _, x := range l.Items {
						if has(&x, nodelifecycle.NotReadyNoExecute) {
							n++
						}
						if ready(&x) == corev1.ConditionFalse {
							require.True(t, has(&x, nodelifecycle.NotReadyNoSchedule), "NoSchedule is never rate limited")
						}
					}
					return n
				}
				for range 3 { // repeated passes at one instant take no extra tokens
					e.monitor()
				}
				require.Equal(t, c.tainted, count(), "at %v", c.at)
			}
			require.Equal(t, tt.state, e.c.ZoneStates()[":\x00:a"])
		})
	}
}

func TestAllZonesDownRemovesNoExecuteTaints(t *testing.T) {
	e := newEnv(t, nodelifecycle.Options{})
	e.node("a", "z1", corev1.ConditionTrue)
	e.node("b", "z2", corev1.ConditionTrue)
	e.node("c", "z2", corev1.ConditionTrue)
	e.waitNodes(3)
	e.monitor()
	e.step(41*time.Second, "b", "c") // a is unreachable, its zone fully down, z2 fine
	controllertest.Eventually(t, wait, "a tainted", func() (bool, error) {
		e.monitor()
		return has(e.get("a"), nodelifecycle.UnreachableNoExecute), nil
	})
	e.step(41 * time.Second) // now every node is silent: the controller is the one cut off
	controllertest.Eventually(t, wait, "NoExecute taints removed", func() (bool, error) {
		e.monitor()
		for _, n := range []string{"a", "b", "c"} {
			x := e.get(n)
			if has(x, nodelifecycle.UnreachableNoExecute) || !has(x, nodelifecycle.UnreachableNoSchedule) {
				return false, nil
			}
		}
		return true, nil
	})
	for _, s := range e.c.ZoneStates() {
		require.Equal(t, nodelifecycle.StateFullDisruption, s)
	}
}

func TestPodCIDRAllocation(t *testing.T) {
	e := newEnv(t, nodelifecycle.Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), NodeCIDRMaskSize: 24})
	for i := range 3 {
		e.node(fmt.Sprintf("n%d", i), "a", corev1.ConditionTrue)
	}
	e.waitNodes(3)
	e.monitor()
	got := map[string]bool{}
	for i := range 3 {
		n := e.get(fmt.Sprintf("n%d", i))
		require.NotEmpty(t, n.Spec.PodCIDR)
		require.Equal(t, []string{n.Spec.PodCIDR}, n.Spec.PodCIDRs)
		got[n.Spec.PodCIDR] = true
	}
	require.Equal(t, map[string]bool{"10.244.0.0/24": true, "10.244.1.0/24": true, "10.244.2.0/24": true}, got)
}

// events lists "type reason message" of the Events about the object
// kind/name in namespace (empty for nodes), as kubectl describe finds
// them: through the API, by involvedObject.
func (e *env) events(kind, namespace, name string) []string {
	e.t.Helper()
	l, err := e.cs.CoreV1().Events("").List(e.ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.namespace=" + namespace + ",involvedObject.name=" + name,
	})
	require.NoError(e.t, err)
	var out []string
	for _, ev := range l.Items {
		require.Equal(e.t, "node-controller", ev.Source.Component)
		if kind == "Node" {
			require.Equal(e.t, metav1.NamespaceDefault, ev.Namespace, "a node's events are in the default namespace")
		}
		out = append(out, ev.Type+" "+ev.Reason+" "+ev.Message)
	}
	return out
}

// TestNodeEvents: the controller records RegisteredNode when it first sees
// a node, NodeNotReady when it marks a Ready node Unknown, and RemovingNode
// when the node is gone, on the Node (what kubectl describe node lists).
func TestNodeEvents(t *testing.T) {
	e := newEnv(t, nodelifecycle.Options{})
	e.node("n1", "a", corev1.ConditionTrue)
	e.node("n2", "a", corev1.ConditionTrue)
	e.waitNodes(2)
	e.monitor()
	for _, n := range []string{"n1", "n2"} {
		controllertest.Eventually(t, wait, n+" registered", func() (bool, error) {
			return slices.Equal(e.events("Node", "", n), []string{"Normal RegisteredNode Node " + n + " event: Registered Node " + n + " in Controller"}), nil
		})
	}
	l, err := e.cs.CoreV1().Events("default").List(e.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=n1"})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	require.Equal(t, e.get("n1").UID, l.Items[0].InvolvedObject.UID)

	e.step(41*time.Second, "n2") // n1 is silent past the grace period
	require.Equal(t, corev1.ConditionUnknown, ready(e.get("n1")))
	controllertest.Eventually(t, wait, "NodeNotReady", func() (bool, error) {
		return slices.Contains(e.events("Node", "", "n1"), "Normal NodeNotReady Node n1 status is now: NodeNotReady"), nil
	})
	e.step(time.Minute, "n2")
	require.Len(t, e.events("Node", "", "n1"), 2, "Unknown is not marked twice")
	require.Len(t, e.events("Node", "", "n2"), 1, "a healthy node has nothing new")

	require.NoError(t, e.cs.CoreV1().Nodes().Delete(e.ctx, "n2", metav1.DeleteOptions{}))
	controllertest.Eventually(t, wait, "n2 gone from the cache", func() (bool, error) {
		_, err := e.f.Core().V1().Nodes().Lister().Get("n2")
		return apierrors.IsNotFound(err), nil
	})
	e.monitor()
	controllertest.Eventually(t, wait, "RemovingNode", func() (bool, error) {
		return slices.Contains(e.events("Node", "", "n2"), "Normal RemovingNode Node n2 event: Removing Node n2 from Controller"), nil
	})
}

// TestDefaultTolerationSecondsEviction: a pod created without tolerations
// through an API server running DefaultTolerationSeconds tolerates an
// unreachable node for 300 s, and is evicted then - not after
// PodEvictionTimeout, set to an hour here to tell the two apart.
func TestDefaultTolerationSecondsEviction(t *testing.T) {
	plugin, err := defaulttolerationseconds.New(defaulttolerationseconds.Options{})
	require.NoError(t, err)
	e := newEnvWith(t, apiserver.Options{Admission: []any{plugin}}, nodelifecycle.Options{PodEvictionTimeout: time.Hour})
	e.node("n1", "a", corev1.ConditionTrue)
	e.node("n2", "a", corev1.ConditionTrue)
	e.pod("web", "n1")
	p, err := e.cs.CoreV1().Pods("default").Get(e.ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, p.Spec.Tolerations, 2, "the admission plugin added the defaults")
	for _, tol := range p.Spec.Tolerations {
		require.Equal(t, int64(300), *tol.TolerationSeconds)
	}
	e.waitNodes(2)
	controllertest.Eventually(t, wait, "pod cached", func() (bool, error) {
		ps, err := e.f.Core().V1().Pods().Lister().List(labels.Everything())
		return len(ps) == 1, err
	})
	e.monitor()

	e.step(41*time.Second, "n2") // n1 unreachable
	controllertest.Eventually(t, wait, "NoExecute taint", func() (bool, error) {
		e.monitor()
		return has(e.get("n1"), nodelifecycle.UnreachableNoExecute), nil
	})
	e.step(299*time.Second, "n2")
	require.True(t, e.podExists("web"), "tolerationSeconds 300 not yet over")
	e.step(time.Second, "n2")
	controllertest.Eventually(t, wait, "evicted at 300 s", func() (bool, error) { e.monitor(); return !e.podExists("web"), nil })
}

// setPodReady writes the pod's Ready condition, as a node agent does, and
// waits until the controller's cache has it.
func (e *env) setPodReady(name string, st corev1.ConditionStatus) {
	e.t.Helper()
	p, err := e.cs.CoreV1().Pods("default").Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	p, err = e.cs.CoreV1().Pods("default").UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
	require.NoError(e.t, err)
	controllertest.Eventually(e.t, wait, "pod cached", func() (bool, error) {
		got, err := e.f.Core().V1().Pods().Lister().Pods("default").Get(name)
		return err == nil && got.ResourceVersion == p.ResourceVersion, nil
	})
}

func (e *env) podReady(name string) corev1.ConditionStatus {
	e.t.Helper()
	p, err := e.cs.CoreV1().Pods("default").Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

// TestPodsMarkedNotReady: when a node stops being Ready - silent past the
// grace period, or reporting NotReady itself - its pods' Ready condition
// turns False at once (so endpoints drop them before any eviction), with
// a NodeNotReady event on each, once per transition; other nodes' pods
// are untouched.
func TestPodsMarkedNotReady(t *testing.T) {
	e := newEnv(t, nodelifecycle.Options{})
	e.node("n1", "a", corev1.ConditionTrue)
	e.node("n2", "a", corev1.ConditionTrue)
	e.pod("on-n1", "n1")
	e.pod("on-n2", "n2")
	e.setPodReady("on-n1", corev1.ConditionTrue)
	e.setPodReady("on-n2", corev1.ConditionTrue)
	e.waitNodes(2)
	e.monitor()

	e.step(41*time.Second, "n2") // n1 is silent past the grace period
	require.Equal(t, corev1.ConditionUnknown, ready(e.get("n1")))
	require.Equal(t, corev1.ConditionFalse, e.podReady("on-n1"))
	require.Equal(t, corev1.ConditionTrue, e.podReady("on-n2"))
	controllertest.Eventually(t, wait, "pod event", func() (bool, error) {
		return slices.Contains(e.events("Pod", "default", "on-n1"), "Warning NodeNotReady Node is not ready"), nil
	})

	// Once per transition: a Ready written again (by whoever) stays.
	e.setPodReady("on-n1", corev1.ConditionTrue)
	e.step(time.Second, "n2")
	require.Equal(t, corev1.ConditionTrue, e.podReady("on-n1"))

	// A node agent that reports NotReady itself.
	n2 := e.get("n2")
	now := metav1.NewTime(e.clk.Now())
	n2.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, LastHeartbeatTime: now, LastTransitionTime: now}}
	n2, err := e.cs.CoreV1().Nodes().UpdateStatus(e.ctx, n2, metav1.UpdateOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "node cached", func() (bool, error) {
		got, err := e.f.Core().V1().Nodes().Lister().Get("n2")
		return err == nil && got.ResourceVersion == n2.ResourceVersion, nil
	})
	e.step(time.Second, "n2")
	require.Equal(t, corev1.ConditionFalse, e.podReady("on-n2"))
}
