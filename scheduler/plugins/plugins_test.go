package plugins_test

import (
	"context"
	"k8s.io/utils/ptr"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
)

type nodeOpt func(*corev1.Node)

func node(name string, opts ...nodeOpt) *corev1.Node {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("10")}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}, Status: corev1.NodeStatus{Allocatable: rl}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func labels(kv ...string) nodeOpt {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func taint(key, value string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func pods(n int64) nodeOpt {
	return func(nd *corev1.Node) {
		nd.Status.Allocatable[corev1.ResourcePods] = *resource.NewQuantity(n, resource.DecimalSI)
	}
}

type podOpt func(*corev1.Pod)

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name), Labels: map[string]string{}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func on(node string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = node } }

func req(cpu, mem string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
}

func podLabels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func prio(v int32) podOpt { return func(p *corev1.Pod) { p.Spec.Priority = &v } }

// run builds a framework with the named plugins over the nodes and pods and
// returns each node's filter outcome ("" = fits, else the message) and,
// for the fitting nodes, the weighted normalized scores.
func run(t *testing.T, names []string, args map[string]any, p *corev1.Pod, nodes []*corev1.Node, existing []*corev1.Pod) (map[string]string, map[string]int64) {
	t.Helper()
	snap := scheduler.NewSnapshot(existing, nodes)
	var cfg []scheduler.PluginConfig
	for _, n := range names {
		cfg = append(cfg, scheduler.PluginConfig{Name: n, Args: args[n]})
	}
	fw, err := scheduler.NewFramework(plugins.NewRegistry(), scheduler.Profile{SchedulerName: "t", Plugins: cfg}, scheduler.FrameworkOptions{Snapshot: snap})
	require.NoError(t, err)
	ctx := context.Background()
	st := scheduler.NewCycleState()
	filters := map[string]string{}
	_, s := fw.RunPreFilterPlugins(ctx, st, p)
	if !s.IsSuccess() {
		for _, n := range nodes {
			filters[n.Name] = "prefilter: " + s.Message()
		}
		return filters, nil
	}
	var feasible []*scheduler.NodeInfo
	for _, ni := range snap.List() {
		s := fw.RunFilterPlugins(ctx, st, p, ni)
		filters[ni.Name()] = s.Message()
		if s.IsSuccess() {
			feasible = append(feasible, ni)
		}
	}
	if len(feasible) == 0 || !fw.HasScorePlugins() {
		return filters, nil
	}
	require.True(t, fw.RunPreScorePlugins(ctx, st, p, feasible).IsSuccess())
	totals, s := fw.RunScorePlugins(ctx, st, p, feasible)
	require.True(t, s.IsSuccess(), s.String())
	scores := map[string]int64{}
	for i, ni := range feasible {
		scores[ni.Name()] = totals[i]
	}
	return filters, scores
}

// spreadOnZone is a hard spread constraint (maxSkew 1 over "zone", pods
// labelled app=w) with the given node inclusion policies.
func spreadOnZone(affinity, taints *corev1.NodeInclusionPolicy) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector:      &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}},
			NodeAffinityPolicy: affinity, NodeTaintsPolicy: taints}}
	}
}

func TestFilters(t *testing.T) {
	tol := func(key, value string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	hostPort := func(port int32) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port}}
		}
	}
	cordon := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	tests := []struct {
		name     string
		plugin   string
		pod      *corev1.Pod
		nodes    []*corev1.Node
		existing []*corev1.Pod
		want     map[string]string
	}{
		{"unschedulable node", plugins.NodeUnschedulableName, pod("p"), []*corev1.Node{node("a", cordon), node("b")},
			nil, map[string]string{"a": plugins.ReasonNodeUnschedulable, "b": ""}},
		{"unschedulable tolerated", plugins.NodeUnschedulableName, pod("p", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists}}
		}), []*corev1.Node{node("a", cordon)}, nil, map[string]string{"a": ""}},
		{"node name", plugins.NodeNameName, pod("p", on("b")), []*corev1.Node{node("a"), node("b")},
			nil, map[string]string{"a": plugins.ReasonNodeName, "b": ""}},
		{"host port taken", plugins.NodePortsName, pod("p", hostPort(8080)), []*corev1.Node{node("a"), node("b")},
			[]*corev1.Pod{pod("x", on("a"), hostPort(8080)), pod("y", on("b"), hostPort(9090))}, map[string]string{"a": plugins.ReasonNodePorts, "b": ""}},
		{"resources cpu and memory", plugins.NodeResourcesFitName, pod("p", req("1", "3Gi")), []*corev1.Node{node("a"), node("b"), node("c")},
			[]*corev1.Pod{pod("x", on("a"), req("1500m", "1Gi")), pod("y", on("b"), req("500m", "2Gi"))},
			map[string]string{"a": "Insufficient cpu", "b": "Insufficient memory", "c": ""}},
		{"pod count", plugins.NodeResourcesFitName, pod("p"), []*corev1.Node{node("a", pods(1)), node("b", pods(2))},
			[]*corev1.Pod{pod("x", on("a")), pod("y", on("b"))}, map[string]string{"a": plugins.ReasonTooManyPods, "b": ""}},
		{"taints", plugins.TaintTolerationName, pod("p", tol("gpu", "yes")),
			[]*corev1.Node{node("a", taint("gpu", "yes", corev1.TaintEffectNoSchedule)), node("b", taint("gpu", "no", corev1.TaintEffectNoSchedule)), node("c", taint("x", "", corev1.TaintEffectPreferNoSchedule))},
			nil, map[string]string{"a": "", "b": "node(s) had untolerated taint {gpu: no}", "c": ""}},
		{"node selector", plugins.NodeAffinityName, pod("p", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			[]*corev1.Node{node("a", labels("disk", "ssd")), node("b", labels("disk", "hdd"))}, nil,
			map[string]string{"a": "", "b": plugins.ReasonNodeAffinity}},
		{"required node affinity", plugins.NodeAffinityName, pod("p", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}, {Key: "gen", Operator: corev1.NodeSelectorOpGt, Values: []string{"3"}}}},
				{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"d"}}}},
			}}}}
		}), []*corev1.Node{node("a", labels("zone", "a", "gen", "4")), node("b", labels("zone", "a", "gen", "2")), node("c", labels("zone", "b", "gen", "9")), node("d")}, nil,
			map[string]string{"a": "", "b": plugins.ReasonNodeAffinity, "c": plugins.ReasonNodeAffinity, "d": ""}},
		{"topology spread", plugins.PodTopologySpreadName, pod("p", podLabels("app", "w"), func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}}}
		}), []*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2")), node("c")},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w")), pod("y", on("a"), podLabels("app", "other"))},
			map[string]string{"a": plugins.ReasonTopologySpread, "b": "", "c": plugins.ReasonTopologySpreadMissingLabel}},
		{"topology spread: tainted domains count by default", plugins.PodTopologySpreadName, pod("p", podLabels("app", "w"), spreadOnZone(nil, nil)),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"), taint(corev1.TaintNodeUnreachable, "", corev1.TaintEffectNoSchedule))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w")), pod("y", on("a"), podLabels("app", "w"))},
			map[string]string{"a": plugins.ReasonTopologySpread, "b": ""}},
		{"topology spread: nodeTaintsPolicy Honor leaves an unreachable node's domain out", plugins.PodTopologySpreadName,
			pod("p", podLabels("app", "w"), spreadOnZone(nil, ptr.To(corev1.NodeInclusionPolicyHonor))),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"), taint(corev1.TaintNodeUnreachable, "", corev1.TaintEffectNoSchedule))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w")), pod("y", on("a"), podLabels("app", "w"))},
			map[string]string{"a": "", "b": ""}},
		{"topology spread: nodeAffinityPolicy Ignore counts nodes the pod cannot go to", plugins.PodTopologySpreadName,
			pod("p", podLabels("app", "w"), spreadOnZone(ptr.To(corev1.NodeInclusionPolicyIgnore), nil), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "1"} }),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w")), pod("y", on("a"), podLabels("app", "w"))},
			map[string]string{"a": plugins.ReasonTopologySpread, "b": ""}},
		{"topology spread: nodeAffinityPolicy Honor (default) does not", plugins.PodTopologySpreadName,
			pod("p", podLabels("app", "w"), spreadOnZone(nil, nil), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "1"} }),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w")), pod("y", on("a"), podLabels("app", "w"))},
			map[string]string{"a": "", "b": ""}},
		// Two zones with one pod each: skew allows either. With minDomains
		// 3 and only two domains the global minimum counts as 0, so a
		// zone that already has one pod is full at maxSkew 1.
		{"topology spread: minDomains above the domains there are", plugins.PodTopologySpreadName,
			pod("p", podLabels("app", "w"), spreadOnZone(nil, nil), func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].MinDomains = ptr.To[int32](3) }),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w")), pod("y", on("b"), podLabels("app", "w"))},
			map[string]string{"a": plugins.ReasonTopologySpread, "b": plugins.ReasonTopologySpread}},
		{"topology spread: minDomains met", plugins.PodTopologySpreadName,
			pod("p", podLabels("app", "w"), spreadOnZone(nil, nil), func(p *corev1.Pod) { p.Spec.TopologySpreadConstraints[0].MinDomains = ptr.To[int32](2) }),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w")), pod("y", on("b"), podLabels("app", "w"))},
			map[string]string{"a": "", "b": ""}},
		// matchLabelKeys [rev]: only pods of the pod's own revision count,
		// so revision 1's pile on zone 1 does not push revision 2 away.
		{"topology spread: matchLabelKeys counts only the same revision", plugins.PodTopologySpreadName,
			pod("p", podLabels("app", "w", "rev", "2"), spreadOnZone(nil, nil), func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints[0].MatchLabelKeys = []string{"rev"}
			}),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w", "rev", "1")), pod("y", on("a"), podLabels("app", "w", "rev", "1")), pod("z", on("b"), podLabels("app", "w", "rev", "2"))},
			map[string]string{"a": "", "b": plugins.ReasonTopologySpread}},
		{"pod affinity", plugins.InterPodAffinityName, pod("p", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
		}), []*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "1")), node("c", labels("zone", "2"))},
			[]*corev1.Pod{pod("db", on("a"), podLabels("app", "db"))},
			map[string]string{"a": "", "b": "", "c": plugins.ReasonAffinityRules}},
		{"first pod of a self-affine group", plugins.InterPodAffinityName, pod("p", podLabels("app", "db"), func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
		}), []*corev1.Node{node("a", labels("zone", "1")), node("c")}, nil,
			map[string]string{"a": "", "c": plugins.ReasonAffinityRules}},
		{"pod anti-affinity", plugins.InterPodAffinityName, pod("p", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
		}), []*corev1.Node{node("a"), node("b")},
			[]*corev1.Pod{pod("db", on("a"), podLabels("app", "db"))},
			map[string]string{"a": plugins.ReasonAntiAffinityRules, "b": ""}},
		{"existing pod anti-affinity", plugins.InterPodAffinityName, pod("p", podLabels("app", "web")),
			[]*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"))},
			[]*corev1.Pod{pod("db", on("a"), func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: "zone", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
			})},
			map[string]string{"a": plugins.ReasonExistingAntiAffinity, "b": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := run(t, []string{tc.plugin}, nil, tc.pod, tc.nodes, tc.existing)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestScores(t *testing.T) {
	preferZone := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
			{Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}},
			{Weight: 30, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "ssd", Operator: corev1.NodeSelectorOpExists}}}},
		}}}
	}
	image := func(n *corev1.Node) {
		n.Status.Images = []corev1.ContainerImage{{Names: []string{"big:1"}, SizeBytes: 500 * 1024 * 1024}}
	}
	existing := []*corev1.Pod{pod("x", on("a"), req("1", "1Gi"))}
	tests := []struct {
		name     string
		plugin   string
		args     any
		pod      *corev1.Pod
		nodes    []*corev1.Node
		existing []*corev1.Pod
		want     map[string]int64
	}{
		{"least allocated", plugins.NodeResourcesFitName, nil, pod("p", req("500m", "1Gi")), []*corev1.Node{node("a"), node("b")}, existing,
			map[string]int64{"a": (25 + 50) / 2, "b": (75 + 75) / 2}},
		{"most allocated", plugins.NodeResourcesFitName, plugins.NodeResourcesFitArgs{Strategy: plugins.MostAllocated}, pod("p", req("500m", "1Gi")), []*corev1.Node{node("a"), node("b")}, existing,
			map[string]int64{"a": (75 + 50) / 2, "b": (25 + 25) / 2}},
		{"balanced", plugins.BalancedAllocationName, nil, pod("p", req("1", "1Gi")), []*corev1.Node{node("a"), node("b")}, existing,
			map[string]int64{"a": 75, "b": 87}},
		{"preferred node affinity", plugins.NodeAffinityName, nil, pod("p", preferZone),
			[]*corev1.Node{node("a", labels("zone", "a")), node("b", labels("ssd", "")), node("c", labels("zone", "a", "ssd", "")), node("d")}, nil,
			map[string]int64{"a": 25, "b": 75, "c": 100, "d": 0}},
		{"prefer no schedule", plugins.TaintTolerationName, nil, pod("p"),
			[]*corev1.Node{node("a", taint("x", "", corev1.TaintEffectPreferNoSchedule)), node("b")}, nil,
			map[string]int64{"a": 0, "b": 100}},
		{"image locality", plugins.ImageLocalityName, nil, pod("p", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "big:1" }),
			[]*corev1.Node{node("a", image), node("b")}, nil,
			map[string]int64{"a": 23, "b": 0}},
		{"soft spread", plugins.PodTopologySpreadName, nil, pod("p", podLabels("app", "w"), func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}}}
		}), []*corev1.Node{node("a", labels("zone", "1")), node("b", labels("zone", "2"))},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w"))},
			map[string]int64{"a": 0, "b": 100}},
		{"preferred pod anti-affinity", plugins.InterPodAffinityName, nil, pod("p", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 5, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}}}}}}
		}), []*corev1.Node{node("a"), node("b")},
			[]*corev1.Pod{pod("x", on("a"), podLabels("app", "w"))},
			map[string]int64{"a": 0, "b": 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got := run(t, []string{tc.plugin}, map[string]any{tc.plugin: tc.args}, tc.pod, tc.nodes, tc.existing)
			assert.Equal(t, tc.want, got)
		})
	}
}

type recordingEvictor struct{ victims []string }

func (r *recordingEvictor) EvictPod(_ context.Context, v, _ *corev1.Pod) error {
	r.victims = append(r.victims, v.Name)
	return nil
}

func TestDefaultPreemption(t *testing.T) {
	tests := []struct {
		name        string
		pod         *corev1.Pod
		existing    []*corev1.Pod
		wantNode    string
		wantVictims []string
	}{
		{"evict the lowest priority node's pod", pod("p", prio(100), req("2", "1Gi")),
			[]*corev1.Pod{pod("a1", on("a"), prio(50), req("2", "1Gi")), pod("b1", on("b"), prio(10), req("2", "1Gi"))},
			"b", []string{"b1"}},
		{"keep what can stay", pod("p", prio(100), req("1", "1Gi")),
			[]*corev1.Pod{pod("a1", on("a"), prio(50), req("1", "1Gi")), pod("a2", on("a"), prio(40), req("1", "1Gi")),
				pod("b1", on("b"), prio(200), req("2", "1Gi"))},
			"a", []string{"a2"}},
		{"no lower priority pods", pod("p", prio(1), req("2", "1Gi")),
			[]*corev1.Pod{pod("a1", on("a"), prio(50), req("2", "1Gi")), pod("b1", on("b"), prio(10), req("2", "1Gi"))},
			"", nil},
		{"preemptionPolicy Never", pod("p", prio(100), req("2", "1Gi"), func(p *corev1.Pod) { n := corev1.PreemptNever; p.Spec.PreemptionPolicy = &n }),
			[]*corev1.Pod{pod("a1", on("a"), prio(50), req("2", "1Gi")), pod("b1", on("b"), prio(10), req("2", "1Gi"))}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &recordingEvictor{}
			nodes := []*corev1.Node{node("a"), node("b")}
			snap := scheduler.NewSnapshot(tc.existing, nodes)
			fw, err := scheduler.NewFramework(plugins.NewRegistry(), scheduler.Profile{SchedulerName: "t", Plugins: []scheduler.PluginConfig{
				{Name: plugins.NodeResourcesFitName}, {Name: plugins.DefaultPreemptionName},
			}}, scheduler.FrameworkOptions{Snapshot: snap, Evictor: ev})
			require.NoError(t, err)
			ctx := context.Background()
			st := scheduler.NewCycleState()
			_, s := fw.RunPreFilterPlugins(ctx, st, tc.pod)
			require.True(t, s.IsSuccess())
			filtered := map[string]*scheduler.Status{}
			for _, ni := range snap.List() {
				s := fw.RunFilterPlugins(ctx, st, tc.pod, ni)
				require.False(t, s.IsSuccess(), "node %s fits already", ni.Name())
				filtered[ni.Name()] = s
			}
			res, s := fw.RunPostFilterPlugins(ctx, st, tc.pod, filtered)
			if tc.wantNode == "" {
				assert.False(t, s.IsSuccess())
				assert.Empty(t, ev.victims)
				return
			}
			require.True(t, s.IsSuccess(), s.String())
			assert.Equal(t, tc.wantNode, res.NominatedNodeName)
			assert.Equal(t, tc.wantVictims, ev.victims)
		})
	}
}

func TestDefaultProfileBuilds(t *testing.T) {
	_, err := scheduler.NewFramework(plugins.NewRegistry(), plugins.DefaultProfile("x"), scheduler.FrameworkOptions{})
	require.NoError(t, err)
	_, err = plugins.NewNodeResourcesFit(plugins.NodeResourcesFitArgs{Strategy: "Bogus"}, nil)
	assert.Error(t, err)
	assert.ErrorIs(t, plugins.NewRegistry().Register(plugins.NodeNameName, plugins.NewNodeName), scheduler.ErrDuplicatePlugin)
}
