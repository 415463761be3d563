package scheduler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
	"github.com/gantryhq/gantry/store/memory"
)

// startCluster serves an in-process API server and returns a client.
func startCluster(t testing.TB) kubernetes.Interface {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	return serveAPI(t, apiserver.Options{Store: st})
}

// serveAPI serves an API server with opts (Store set) over HTTP and
// returns a client.
func serveAPI(t testing.TB, opts apiserver.Options) kubernetes.Interface {
	t.Helper()
	srv, err := apiserver.New(opts)
	require.NoError(t, err)
	require.NoError(t, srv.EnsureSystemObjects(context.Background()))
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL, QPS: -1})
	require.NoError(t, err)
	return cs
}

func liveNode(name string, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	l := map[string]string{corev1.LabelHostname: name}
	for k, v := range lbls {
		l[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity: rl, Allocatable: rl,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func livePod(name, cpu string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"name": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// createNode creates a node and then sets its status (the API server
// ignores status on create).
func createNode(t testing.TB, cs kubernetes.Interface, n *corev1.Node) {
	t.Helper()
	ctx := context.Background()
	created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	require.NoError(t, err)
	created.Status = n.Status
	_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)
}

var dumpEvents func()

func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		<-time.After(20 * time.Millisecond)
	}
	t.Errorf("timed out waiting for %s (last error: %v)", what, lastErr)
	if dumpEvents != nil {
		dumpEvents()
	}
	t.FailNow()
}

// TestLiveCluster runs the scheduler against an in-process API server and
// checks placements under taints, node affinity, anti-affinity and
// topology spread, and the FailedScheduling event.
func TestLiveCluster(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := startCluster(t)
	gpuTaint := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	nodes := []*corev1.Node{
		liveNode("a1", map[string]string{"zone": "a", "gpu": "true"}, gpuTaint),
		liveNode("a2", map[string]string{"zone": "a"}),
		liveNode("b1", map[string]string{"zone": "b"}),
		liveNode("b2", map[string]string{"zone": "b"}),
	}
	for _, n := range nodes {
		createNode(t, cs, n)
	}
	r, err := scheduler.NewRunner(scheduler.RunnerOptions{
		Client:         cs,
		Registry:       plugins.NewRegistry(),
		Profiles:       []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		LeaderElection: &scheduler.LeaderElection{Identity: "test", LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond},
		InitialBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		FlushPeriod: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	dumpEvents = func() {
		evs, _ := cs.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
		for _, e := range evs.Items {
			t.Logf("event %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
		a, b, u := r.Scheduler().Queue.Len()
		t.Logf("queue %d %d %d cache nodes %d pods %d", a, b, u, r.Scheduler().Cache.NodeCount(), r.Scheduler().Cache.PodCount())
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	waitFor(t, "first replica leads", func() (bool, error) { return r.IsLeader(), nil })
	// A second replica waits on the same Lease.
	standby, err := scheduler.NewRunner(scheduler.RunnerOptions{
		Client:         cs,
		Registry:       plugins.NewRegistry(),
		Profiles:       []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		LeaderElection: &scheduler.LeaderElection{Identity: "standby", LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond},
	})
	require.NoError(t, err)
	done2 := make(chan error, 1)
	go func() { done2 <- standby.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done2) }()

	pods := []struct {
		pod   *corev1.Pod
		nodes []string // acceptable nodes
	}{
		{livePod("gpu", "1", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"gpu": "true"}
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}), []string{"a1"}},
		{livePod("zone-b", "100m", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}}},
			}}}
		}), []string{"b1", "b2"}},
		{livePod("untainted", "100m", nil), []string{"a2", "b1", "b2"}},
	}
	for _, tc := range pods {
		_, err := cs.CoreV1().Pods("default").Create(ctx, tc.pod, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	// Four spread pods over two zones with maxSkew 1 -> two per zone,
	// never on a1 (tainted).
	for i := 0; i < 4; i++ {
		p := livePod(fmt.Sprintf("spread-%d", i), "100m", func(p *corev1.Pod) {
			p.Labels["app"] = "spread"
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
			}}
		})
		_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, p.Name+" bound", func() (bool, error) {
			got, err := cs.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
			return err == nil && got.Spec.NodeName != "", err
		})
	}
	// Two pods that repel each other by hostname.
	for i := 0; i < 2; i++ {
		p := livePod(fmt.Sprintf("anti-%d", i), "100m", func(p *corev1.Pod) {
			p.Labels["app"] = "anti"
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}},
			}}}}
		})
		_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err = cs.CoreV1().Pods("default").Create(ctx, livePod("too-big", "64", nil), metav1.CreateOptions{})
	require.NoError(t, err)

	for _, tc := range pods {
		waitFor(t, tc.pod.Name+" bound", func() (bool, error) {
			got, err := cs.CoreV1().Pods("default").Get(ctx, tc.pod.Name, metav1.GetOptions{})
			return err == nil && got.Spec.NodeName != "", err
		})
		got, err := cs.CoreV1().Pods("default").Get(ctx, tc.pod.Name, metav1.GetOptions{})
		require.NoError(t, err)
		require.Contains(t, tc.nodes, got.Spec.NodeName, "pod %s", tc.pod.Name)
	}
	zones := map[string]int{}
	antiNodes := map[string]bool{}
	waitFor(t, "anti pods bound", func() (bool, error) {
		list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=anti"})
		if err != nil {
			return false, err
		}
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				return false, nil
			}
		}
		return len(list.Items) == 2, nil
	})
	list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range list.Items {
		switch p.Labels["app"] {
		case "spread":
			require.NotEqual(t, "a1", p.Spec.NodeName)
			zones[p.Spec.NodeName[:1]]++
		case "anti":
			require.False(t, antiNodes[p.Spec.NodeName], "anti pods share node %s", p.Spec.NodeName)
			antiNodes[p.Spec.NodeName] = true
		}
	}
	require.Equal(t, map[string]int{"a": 2, "b": 2}, zones)

	var msg string
	waitFor(t, "FailedScheduling event", func() (bool, error) {
		evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.InvolvedObject.Name == "too-big" {
				msg = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	require.Equal(t, "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu.", msg)
	waitFor(t, "Scheduled event", func() (bool, error) {
		evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=Scheduled"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "gpu" && strings.Contains(e.Message, "to a1") {
				return true, nil
			}
		}
		return false, nil
	})
	require.True(t, r.IsLeader())
	require.False(t, standby.IsLeader())
	hs := httptest.NewServer(r.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(hs.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `gantry_scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}`)
	require.Contains(t, string(body), `gantry_scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"}`)
	require.Contains(t, string(body), `gantry_scheduler_pending_pods{queue="unschedulable"} 1`)
	require.Contains(t, string(body), `gantry_scheduler_e2e_scheduling_duration_seconds_bucket`)
	lease, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, "gantry-scheduler", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "test", *lease.Spec.HolderIdentity)
}

func TestClientConfig(t *testing.T) {
	// kube-scheduler's rate, not client-go's (internal/restconfig tests the
	// rest).
	cfg := scheduler.ClientConfig(&rest.Config{})
	require.EqualValues(t, 50, cfg.QPS)
	require.Equal(t, 100, cfg.Burst)
	require.Equal(t, "gantry-scheduler", cfg.UserAgent)
}
