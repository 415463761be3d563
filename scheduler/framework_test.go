package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/scheduler"
)

// fakePlugin implements every extension point with configurable answers
// and records the calls.
type fakePlugin struct {
	name       string
	reject     map[string]*scheduler.Status // Filter by node
	scores     map[string]int64
	preFilter  *scheduler.PreFilterResult
	reserveErr *scheduler.Status
	permit     *scheduler.Status
	permitWait time.Duration
	bindOwn    bool // Bind binds (Success) instead of Skip
	postFilter string

	mu    sync.Mutex
	calls []string
}

func (p *fakePlugin) record(s string) {
	p.mu.Lock()
	p.calls = append(p.calls, s)
	p.mu.Unlock()
}

func (p *fakePlugin) Name() string { return p.name }
func (p *fakePlugin) PreFilter(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, _ []*scheduler.NodeInfo) (*scheduler.PreFilterResult, *scheduler.Status) {
	p.record("PreFilter")
	return p.preFilter, nil
}
func (p *fakePlugin) Filter(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	return p.reject[ni.Name()]
}
func (p *fakePlugin) PostFilter(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, m map[string]*scheduler.Status) (*scheduler.PostFilterResult, *scheduler.Status) {
	p.record(fmt.Sprintf("PostFilter(%d)", len(m)))
	if p.postFilter == "" {
		return nil, scheduler.NewStatus(scheduler.Unschedulable)
	}
	return &scheduler.PostFilterResult{NominatedNodeName: p.postFilter}, nil
}
func (p *fakePlugin) Score(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	return p.scores[ni.Name()], nil
}
func (p *fakePlugin) ScoreExtensions() scheduler.ScoreExtensions { return nil }
func (p *fakePlugin) Reserve(context.Context, *scheduler.CycleState, *corev1.Pod, string) *scheduler.Status {
	p.record("Reserve")
	return p.reserveErr
}
func (p *fakePlugin) Unreserve(context.Context, *scheduler.CycleState, *corev1.Pod, string) {
	p.record("Unreserve")
}
func (p *fakePlugin) Permit(context.Context, *scheduler.CycleState, *corev1.Pod, string) (*scheduler.Status, time.Duration) {
	p.record("Permit")
	return p.permit, p.permitWait
}
func (p *fakePlugin) PreBind(context.Context, *scheduler.CycleState, *corev1.Pod, string) *scheduler.Status {
	p.record("PreBind")
	return nil
}
func (p *fakePlugin) Bind(context.Context, *scheduler.CycleState, *corev1.Pod, string) *scheduler.Status {
	p.record("Bind")
	if p.bindOwn {
		return nil
	}
	return scheduler.NewStatus(scheduler.Skip)
}
func (p *fakePlugin) PostBind(context.Context, *scheduler.CycleState, *corev1.Pod, string) {
	p.record("PostBind")
}

func newTestScheduler(t *testing.T, plugins []*fakePlugin, weights []int64, nodes int, clk *clocktesting.FakeClock) (*scheduler.Scheduler, *[]scheduler.Result, *[]string) {
	t.Helper()
	reg := scheduler.Registry{}
	var cfg []scheduler.PluginConfig
	for i, p := range plugins {
		p := p
		require.NoError(t, reg.Register(p.name, func(any, scheduler.Handle) (scheduler.Plugin, error) { return p, nil }))
		cfg = append(cfg, scheduler.PluginConfig{Name: p.name, Weight: weights[i]})
	}
	var results []scheduler.Result
	var bound []string
	var mu sync.Mutex
	s, err := scheduler.New(scheduler.Options{
		Registry: reg,
		Profiles: []scheduler.Profile{{SchedulerName: scheduler.DefaultSchedulerName, Plugins: cfg}},
		Binder: scheduler.BinderFunc(func(_ context.Context, p *corev1.Pod, n string) error {
			mu.Lock()
			bound = append(bound, p.Name+"->"+n)
			mu.Unlock()
			return nil
		}),
		Clock:       clk,
		Parallelism: 2,
		OnResult: func(r scheduler.Result) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		},
	})
	require.NoError(t, err)
	for i := 0; i < nodes; i++ {
		s.Cache.AddNode(benchNode(i))
	}
	return s, &results, &bound
}

func TestFrameworkExtensionPoints(t *testing.T) {
	unsched := func(r string) *scheduler.Status { return scheduler.NewStatus(scheduler.Unschedulable, r) }
	tests := []struct {
		name      string
		plugins   []*fakePlugin
		weights   []int64
		wantBound []string
		wantMsg   string
		wantCalls []string // calls of plugins[0]
		wantNom   string
	}{
		{
			name: "weighted scores pick node-2",
			plugins: []*fakePlugin{
				{name: "A", scores: map[string]int64{"node-0": 100, "node-1": 0, "node-2": 60}},
				{name: "B", scores: map[string]int64{"node-0": 0, "node-1": 50, "node-2": 50}},
			},
			weights:   []int64{1, 3},
			wantBound: []string{"p->node-2"},
			wantCalls: []string{"PreFilter", "Reserve", "Permit", "PreBind", "Bind", "PostBind"},
		},
		{
			name: "filter rejects all but node-1",
			plugins: []*fakePlugin{{name: "A", reject: map[string]*scheduler.Status{
				"node-0": unsched("Insufficient cpu"), "node-2": unsched("Insufficient cpu"),
			}, scores: map[string]int64{"node-0": 100}}},
			weights:   []int64{1},
			wantBound: []string{"p->node-1"},
		},
		{
			name: "no node fits -> postfilter nominates",
			plugins: []*fakePlugin{{name: "A", postFilter: "node-0", reject: map[string]*scheduler.Status{
				"node-0": unsched("Insufficient cpu"), "node-1": unsched("Insufficient cpu"),
				"node-2": scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, "node(s) had untolerated taint {a: b}"),
			}}},
			weights:   []int64{1},
			wantMsg:   "0/3 nodes are available: 1 node(s) had untolerated taint {a: b}, 2 Insufficient cpu.",
			wantCalls: []string{"PreFilter", "PostFilter(3)"},
			wantNom:   "node-0",
		},
		{
			name:      "prefilter restricts nodes",
			plugins:   []*fakePlugin{{name: "A", preFilter: &scheduler.PreFilterResult{NodeNames: sets.New("node-1")}, scores: map[string]int64{"node-0": 100}}},
			weights:   []int64{1},
			wantBound: []string{"p->node-1"},
		},
		{
			name:      "reserve failure unreserves",
			plugins:   []*fakePlugin{{name: "A", reserveErr: unsched("no")}},
			weights:   []int64{1},
			wantMsg:   "no",
			wantCalls: []string{"PreFilter", "Reserve", "Unreserve"},
		},
		{
			name:      "permit rejects",
			plugins:   []*fakePlugin{{name: "A", permit: unsched("denied")}},
			weights:   []int64{1},
			wantMsg:   "denied",
			wantCalls: []string{"PreFilter", "Reserve", "Permit", "Unreserve"},
		},
		{
			name:      "bind plugin binds",
			plugins:   []*fakePlugin{{name: "A", bindOwn: true, scores: map[string]int64{"node-0": 1}}},
			weights:   []int64{1},
			wantBound: []string{},
			wantCalls: []string{"PreFilter", "Reserve", "Permit", "PreBind", "Bind", "PostBind"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(benchStart)
			s, results, bound := newTestScheduler(t, tc.plugins, tc.weights, 3, clk)
			s.Queue.Add(qpod("p", 0))
			require.True(t, s.ScheduleOne(context.Background()))
			require.Len(t, *results, 1)
			r := (*results)[0]
			if tc.wantMsg != "" {
				assert.Equal(t, tc.wantMsg, r.Status.Message())
				assert.Equal(t, tc.wantNom, r.NominatedNodeName)
				assert.Empty(t, *bound)
				assert.Equal(t, 0, s.Cache.PodCount(), "assumed pod forgotten")
			} else {
				assert.True(t, r.Status.IsSuccess(), r.Status.String())
				if tc.wantBound != nil {
					assert.ElementsMatch(t, tc.wantBound, *bound)
				}
			}
			if tc.wantCalls != nil {
				assert.Equal(t, tc.wantCalls, tc.plugins[0].calls)
			}
		})
	}
}

func TestPermitWait(t *testing.T) {
	tests := []struct {
		name  string
		allow bool
	}{{"allowed", true}, {"times out", false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(benchStart)
			p := &fakePlugin{name: "A", permit: scheduler.NewStatus(scheduler.Wait), permitWait: time.Minute}
			s, results, bound := newTestScheduler(t, []*fakePlugin{p}, []int64{1}, 1, clk)
			pod := qpod("p", 0)
			s.Queue.Add(pod)
			done := make(chan struct{})
			go func() { s.ScheduleOne(context.Background()); close(done) }()
			fw := s.Framework(scheduler.DefaultSchedulerName)
			deadline := time.Now().Add(5 * time.Second)
			for fw.GetWaitingPod(string(pod.UID)) == nil && time.Now().Before(deadline) {
				<-time.After(time.Millisecond)
			}
			wp := fw.GetWaitingPod(string(pod.UID))
			require.NotNil(t, wp)
			if tc.allow {
				wp.Allow("A")
			} else {
				for !clk.HasWaiters() {
					<-time.After(time.Millisecond)
				}
				clk.Step(time.Minute + time.Second)
			}
			<-done
			require.Len(t, *results, 1)
			if tc.allow {
				assert.Equal(t, []string{"p->node-0"}, *bound)
			} else {
				assert.Empty(t, *bound)
				assert.Contains(t, (*results)[0].Status.Message(), "timeout")
			}
		})
	}
}

func TestNewFrameworkErrors(t *testing.T) {
	reg := scheduler.Registry{"A": func(any, scheduler.Handle) (scheduler.Plugin, error) { return &fakePlugin{name: "A"}, nil }}
	tests := []struct {
		name    string
		plugins []scheduler.PluginConfig
		want    error
	}{
		{"unknown", []scheduler.PluginConfig{{Name: "B"}}, scheduler.ErrUnknownPlugin},
		{"duplicate", []scheduler.PluginConfig{{Name: "A"}, {Name: "A"}}, scheduler.ErrDuplicatePlugin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scheduler.NewFramework(reg, scheduler.Profile{SchedulerName: "x", Plugins: tc.plugins}, scheduler.FrameworkOptions{})
			assert.ErrorIs(t, err, tc.want)
		})
	}
	_, err := scheduler.New(scheduler.Options{Registry: reg, Binder: scheduler.BinderFunc(nil), Profiles: []scheduler.Profile{{SchedulerName: "x"}, {SchedulerName: "x"}}})
	assert.Error(t, err)
}

// mostPods places the pod on the feasible node with the most pods.
type mostPods struct{}

func (mostPods) Schedule(_ context.Context, pod *corev1.Pod, nodes []*scheduler.NodeInfo) (string, *scheduler.Status) {
	best := ""
	most := -1
	for _, n := range nodes {
		if int64(len(n.Pods)) >= n.Allocatable.AllowedPodNumber {
			continue
		}
		if len(n.Pods) > most {
			best, most = n.Name(), len(n.Pods)
		}
	}
	if best == "" {
		return "", scheduler.NewStatus(scheduler.Unschedulable, "all nodes full")
	}
	return best, nil
}

func TestProfileFromAlgorithm(t *testing.T) {
	var bound []string
	s, err := scheduler.New(scheduler.Options{
		Profiles: []scheduler.Profile{scheduler.ProfileFromAlgorithm("most-pods", mostPods{})},
		Binder: scheduler.BinderFunc(func(_ context.Context, p *corev1.Pod, n string) error {
			bound = append(bound, n)
			return nil
		}),
	})
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		s.Cache.AddNode(benchNode(i))
	}
	placed := benchPod("placed", 0)
	placed.Spec.NodeName = "node-1"
	s.Cache.AddPod(placed)
	for i := 0; i < 3; i++ {
		p := benchPod("p", i)
		p.Spec.SchedulerName = "most-pods"
		s.Queue.Add(p)
	}
	other := benchPod("other", 0) // default-scheduler: not ours
	assert.False(t, s.Responsible(other))
	for s.ScheduleOne(context.Background()) {
	}
	assert.Equal(t, []string{"node-1", "node-1", "node-1"}, bound)
}
