package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*corev1.Pod) // changes to the stored pod
		mutate func(*corev1.Pod) // changes made by the update
		want   []want
	}{
		{"no change", nil, func(*corev1.Pod) {}, nil},
		{"labels and annotations may change", nil, func(p *corev1.Pod) {
			p.Labels = map[string]string{"tier": "front"}
			p.Annotations = map[string]string{"note": "x"}
		}, nil},

		// metadata
		{"name is immutable", nil, func(p *corev1.Pod) { p.Name = "web-2" }, []want{invalid("metadata.name")}},
		{"namespace is immutable", nil, func(p *corev1.Pod) { p.Namespace = "other" }, []want{invalid("metadata.namespace")}},
		{"uid is immutable", func(p *corev1.Pod) { p.UID = "a" }, func(p *corev1.Pod) { p.UID = "b" }, []want{invalid("metadata.uid")}},
		{"creationTimestamp is immutable", func(p *corev1.Pod) { p.CreationTimestamp = metav1.Unix(100, 0) },
			func(p *corev1.Pod) { p.CreationTimestamp = metav1.Unix(200, 0) }, []want{invalid("metadata.creationTimestamp")}},
		{"resourceVersion is not checked", nil, func(p *corev1.Pod) { p.ResourceVersion = "" }, nil},
		{"no new finalizer while deleting", func(p *corev1.Pod) { p.DeletionTimestamp = ptr(metav1.Unix(100, 0)) },
			func(p *corev1.Pod) { p.Finalizers = []string{"example.com/keep"} }, []want{forbidden("metadata.finalizers")}},

		// the allowed changes
		{"container image may change", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"init container image may change", nil, func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:1.36" }, nil},
		{"image may not become empty", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []want{required("spec.containers[0].image")}},
		{"toleration may be added", nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
		}, nil},
		{"tolerationSeconds may change", nil, func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr[int64](60) }, nil},
		{"toleration may not be removed", nil, func(p *corev1.Pod) { p.Spec.Tolerations = nil }, []want{forbidden("spec.tolerations")}},
		{"toleration may not be changed", nil, func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "other" }, []want{forbidden("spec.tolerations")}},
		{"invalid added toleration", nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: "Maybe"})
		}, []want{notSupported("spec.tolerations[1].operator")}},
		{"activeDeadlineSeconds may be set", nil, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](600) }, nil},
		{"activeDeadlineSeconds may decrease", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](600) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](300) }, nil},
		{"activeDeadlineSeconds may not increase", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](300) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](600) }, []want{invalid("spec.activeDeadlineSeconds")}},
		{"activeDeadlineSeconds may not be unset", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](300) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, []want{invalid("spec.activeDeadlineSeconds")}},
		{"activeDeadlineSeconds may not be 0", nil, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](0) }, []want{invalid("spec.activeDeadlineSeconds")}},
		{"scheduling gate may be removed", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} },
			func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }, nil},
		{"scheduling gate may not be added", nil, func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, []want{forbidden("spec.schedulingGates")}},
		{"negative grace period may become 1", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](-1) },
			func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](1) }, nil},

		// everything else is forbidden
		{"command may not change", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sleep", "1"} }, []want{forbidden("spec")}},
		{"nodeName may not change", nil, func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, []want{forbidden("spec")}},
		{"resources may not change", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Requests = nil }, []want{forbidden("spec")}},
		{"volumes may not change", nil, func(p *corev1.Pod) {
			p.Spec.Volumes[0].Name = "data2"
			p.Spec.Containers[0].VolumeMounts[0].Name = "data2"
		}, []want{forbidden("spec")}},
		{"containers may not be added", nil, func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name, c.Ports = "second", nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []want{forbidden("spec.containers")}},
		{"init containers may not be removed", nil, func(p *corev1.Pod) { p.Spec.InitContainers = nil }, []want{forbidden("spec.initContainers")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			if tt.old != nil {
				tt.old(old)
			}
			p := old.DeepCopy()
			tt.mutate(p)
			checkErrs(t, ValidateUpdate(p, old), tt.want...)
		})
	}
}

func TestPodUpdateForbiddenMessage(t *testing.T) {
	old := validPod()
	p := old.DeepCopy()
	p.Spec.Containers[0].Command = []string{"sleep"}
	p.Spec.NodeName = "node-2"
	errs := PodUpdate(p, old)
	if len(errs) != 1 {
		t.Fatalf("got %v, want one error", errs)
	}
	for _, s := range []string{"spec.containers[*].image", "spec.activeDeadlineSeconds", "spec.tolerations", "changed: spec.containers[0].command, spec.nodeName"} {
		if !strings.Contains(errs[0].Detail, s) {
			t.Errorf("detail %q does not mention %q", errs[0].Detail, s)
		}
	}
}

func TestPodStatusUpdate(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	terminated := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	tests := []struct {
		name   string
		old    func(*corev1.Pod)
		mutate func(*corev1.Pod)
		want   []want
	}{
		{"phase and IPs", nil, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP, p.Status.PodIPs = "10.244.1.5", []corev1.PodIP{{IP: "10.244.1.5"}, {IP: "fd00::5"}}
			p.Status.HostIP, p.Status.HostIPs = "192.168.1.10", []corev1.HostIP{{IP: "192.168.1.10"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}, nil},
		{"nodeName may not change", nil, func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, []want{forbidden("status.nodeName")}},
		{"bad phase", nil, func(p *corev1.Pod) { p.Status.Phase = "Sleeping" }, []want{notSupported("status.phase")}},
		{"bad pod IP", nil, func(p *corev1.Pod) {
			p.Status.PodIP, p.Status.PodIPs = "10.244.1", []corev1.PodIP{{IP: "10.244.1"}}
		}, []want{invalid("status.podIPs[0].ip")}},
		{"podIP differs from podIPs", nil, func(p *corev1.Pod) {
			p.Status.PodIP, p.Status.PodIPs = "10.244.1.5", []corev1.PodIP{{IP: "10.244.1.6"}}
		}, []want{invalid("status.podIPs")}},
		{"two IPv4 pod IPs", nil, func(p *corev1.Pod) {
			p.Status.PodIP, p.Status.PodIPs = "10.244.1.5", []corev1.PodIP{{IP: "10.244.1.5"}, {IP: "10.244.1.6"}}
		}, []want{invalid("status.podIPs")}},
		{"bad condition type", nil, func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "not ready", Status: corev1.ConditionFalse}}
		}, []want{invalid("status.conditions[0].type")}},
		{"terminated container may not run again with restartPolicy Never", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: terminated}}
		}, func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = running
		}, []want{forbidden("status.containerStatuses[0].state")}},
		{"terminated container may restart with restartPolicy Always", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: terminated}}
		}, func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = running
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			if tt.old != nil {
				tt.old(old)
			}
			p := old.DeepCopy()
			tt.mutate(p)
			checkErrs(t, ValidateStatusUpdate(p, old), tt.want...)
		})
	}
}
