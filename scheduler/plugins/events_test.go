package plugins_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
)

// helps asks p's registrations whether ev (old -> new) may help pod.
func helps(p scheduler.EnqueueExtensions, pod *corev1.Pod, ev scheduler.ClusterEvent, oldObj, newObj any) bool {
	for _, r := range p.EventsToRegister() {
		if !r.Event.Match(ev) {
			continue
		}
		if r.QueueingHintFn == nil {
			return true
		}
		if h, err := r.QueueingHintFn(pod, oldObj, newObj); err != nil || h == scheduler.HintQueue {
			return true
		}
	}
	return false
}

func hintNode(mutate func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"zone": "a"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("10"),
		}},
	}
	if mutate != nil {
		mutate(n)
	}
	return n
}

func hintPod(mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "p", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestQueueingHints(t *testing.T) {
	cordoned := hintNode(func(n *corev1.Node) { n.Spec.Unschedulable = true })
	tainted := hintNode(func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
	})
	plain := hintNode(nil)
	small := hintNode(func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("500m") })
	ssd := hintNode(func(n *corev1.Node) { n.Labels["disk"] = "ssd" })
	withPort := hintPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 80, ContainerPort: 80}}
	})
	other := hintPod(func(p *corev1.Pod) { p.Name, p.UID = "other", "other" })
	otherPort := hintPod(func(p *corev1.Pod) {
		p.Name, p.UID = "other", "other"
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{HostPort: 80, ContainerPort: 80}}
	})
	spread := hintPod(func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		}}
	})
	db := hintPod(func(p *corev1.Pod) { p.Name, p.UID, p.Labels = "db", "db", map[string]string{"app": "db"} })
	nodeUpdate := func(o, n *corev1.Node) scheduler.ClusterEvent { return scheduler.NodeUpdateEvent(o, n) }

	tests := []struct {
		name           string
		plugin         scheduler.EnqueueExtensions
		pod            *corev1.Pod
		ev             scheduler.ClusterEvent
		oldObj, newObj any
		want           bool
	}{
		{"uncordon helps", plugins.NodeUnschedulable{}, hintPod(nil), nodeUpdate(cordoned, plain), cordoned, plain, true},
		{"cordon does not", plugins.NodeUnschedulable{}, hintPod(nil), nodeUpdate(plain, cordoned), plain, cordoned, false},
		{"schedulable node added", plugins.NodeUnschedulable{}, hintPod(nil), scheduler.EventNodeAdd, nil, plain, true},
		{"pod deletion does not uncordon", plugins.NodeUnschedulable{}, hintPod(nil), scheduler.EventAssignedPodDelete, other, nil, false},
		{"taint removed", plugins.TaintToleration{}, hintPod(nil), nodeUpdate(tainted, plain), tainted, plain, true},
		{"taint added", plugins.TaintToleration{}, hintPod(nil), nodeUpdate(plain, tainted), plain, tainted, false},
		{"tainted node added", plugins.TaintToleration{}, hintPod(nil), scheduler.EventNodeAdd, nil, tainted, false},
		{"label now matches", plugins.NodeAffinity{}, hintPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), nodeUpdate(plain, ssd), plain, ssd, true},
		{"label still does not match", plugins.NodeAffinity{}, hintPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }), nodeUpdate(plain, ssd), plain, ssd, false},
		{"fit: pod deleted", &plugins.NodeResourcesFit{}, hintPod(nil), scheduler.EventAssignedPodDelete, other, nil, true},
		{"fit: big enough node added", &plugins.NodeResourcesFit{}, hintPod(nil), scheduler.EventNodeAdd, nil, plain, true},
		{"fit: too small node added", &plugins.NodeResourcesFit{}, hintPod(nil), scheduler.EventNodeAdd, nil, small, false},
		{"fit: node relabelled", &plugins.NodeResourcesFit{}, hintPod(nil), nodeUpdate(plain, ssd), plain, ssd, false},
		{"ports: holder of the port deleted", plugins.NodePorts{}, withPort, scheduler.EventAssignedPodDelete, otherPort, nil, true},
		{"ports: other pod deleted", plugins.NodePorts{}, withPort, scheduler.EventAssignedPodDelete, other, nil, false},
		{"spread: matching pod deleted", &plugins.PodTopologySpread{}, spread, scheduler.EventAssignedPodDelete, other, nil, true},
		{"spread: other app deleted", &plugins.PodTopologySpread{}, spread, scheduler.EventAssignedPodDelete, db, nil, false},
		{"spread: zoned node added", &plugins.PodTopologySpread{}, spread, scheduler.EventNodeAdd, nil, plain, true},
		{"affinity: pod added, pod wants a peer", &plugins.InterPodAffinity{}, hintPod(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone"}}}}
		}), scheduler.EventAssignedPodAdd, nil, db, true},
		{"affinity: pod added, pod has only anti-affinity", &plugins.InterPodAffinity{}, hintPod(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone"}}}}
		}), scheduler.EventAssignedPodAdd, nil, db, false},
		{"affinity: repelling pod deleted", &plugins.InterPodAffinity{}, hintPod(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone"}}}}
		}), scheduler.EventAssignedPodDelete, db, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, helps(tc.plugin, tc.pod, tc.ev, tc.oldObj, tc.newObj))
		})
	}
}
