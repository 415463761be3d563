package nodeagent

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/runtime"
)

var everything = labels.Everything()

// updateStatus computes the pod's status from the runtime's state and
// writes it when it changed.
func (a *Agent) updateStatus(ctx context.Context, pod *corev1.Pod, state *podState, waiting map[string]*corev1.ContainerStateWaiting) error {
	status := a.podStatus(pod, state, waiting)
	started := pod.Status.Phase != corev1.PodRunning && status.Phase == corev1.PodRunning
	if a.static.isStatic(pod) {
		// The agent keeps a static pod's status; its mirror pod shows it.
		pod.Status = status
		a.static.setStatus(pod)
		if started {
			a.metrics.podRunning(pod)
		}
		return nil
	}
	if reflect.DeepEqual(status, pod.Status) {
		return nil
	}
	pod.Status = status
	_, err := a.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err == nil && started {
		a.metrics.podRunning(pod)
	}
	return err
}

func (a *Agent) podStatus(pod *corev1.Pod, state *podState, waiting map[string]*corev1.ContainerStateWaiting) corev1.PodStatus {
	old := pod.Status
	s := corev1.PodStatus{
		QOSClass:   old.QOSClass,
		Conditions: old.Conditions,
		StartTime:  old.StartTime,
	}
	now := metav1.NewTime(a.clock.Now().Truncate(1e9))
	if s.StartTime == nil {
		s.StartTime = &now
	}
	if a.opts.NodeIP.IsValid() {
		s.HostIP = a.opts.NodeIP.String()
		s.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
	}
	if sb := state.sandbox; sb != nil {
		switch {
		case sb.IP.IsValid():
			s.PodIP = sb.IP.String()
		case pod.Spec.HostNetwork:
			s.PodIP = s.HostIP
		}
		if s.PodIP != "" {
			s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
		}
	}

	initialized, initFailed := true, false
	for _, c := range pod.Spec.InitContainers {
		cs := containerStatus(c, state.containers[c.Name], waiting[c.Name], old.InitContainerStatuses)
		s.InitContainerStatuses = append(s.InitContainerStatuses, cs)
		term := cs.State.Terminated
		switch {
		case term != nil && term.ExitCode == 0:
		case term != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			initialized, initFailed = false, true
		default:
			initialized = false
		}
	}

	running, succeeded, failed, total := 0, 0, 0, len(pod.Spec.Containers)
	hasRun := false
	for _, c := range pod.Spec.Containers {
		cs := containerStatus(c, state.containers[c.Name], waiting[c.Name], old.ContainerStatuses)
		if cs.State.Running != nil {
			if ready, probed := state.ready[c.Name]; probed {
				cs.Ready = ready
			}
			if started, probed := state.started[c.Name]; probed {
				cs.Started = ptr.To(started)
			}
		}
		hasRun = hasRun || cs.RestartCount > 0 || cs.LastTerminationState.Terminated != nil
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			succeeded++
		case cs.State.Terminated != nil:
			failed++
		}
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}

	// Phase, as the kubelet derives it.
	restartable := pod.Spec.RestartPolicy != corev1.RestartPolicyNever
	switch {
	case initFailed:
		s.Phase = corev1.PodFailed
	case !initialized:
		s.Phase = corev1.PodPending
	case running == total:
		s.Phase = corev1.PodRunning
	case succeeded == total:
		s.Phase = corev1.PodSucceeded
		if pod.Spec.RestartPolicy == corev1.RestartPolicyAlways {
			s.Phase = corev1.PodRunning
		}
	case succeeded+failed == total && !restartable:
		s.Phase = corev1.PodFailed
	case succeeded+failed == total && pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && failed == 0:
		s.Phase = corev1.PodSucceeded
	case running > 0 || succeeded+failed > 0 || hasRun:
		s.Phase = corev1.PodRunning
	default:
		s.Phase = corev1.PodPending
	}

	var unready, uninitialized []string
	for _, cs := range s.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	for _, cs := range s.InitContainerStatuses {
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			uninitialized = append(uninitialized, cs.Name)
		}
	}
	// Reasons and messages as kubectl describe shows the kubelet's.
	notReady := condition{reason: "ContainersNotReady", message: fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))}
	notInit := condition{reason: "ContainersNotInitialized", message: fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(uninitialized, " "))}
	if s.Phase == corev1.PodSucceeded || s.Phase == corev1.PodFailed {
		notReady = condition{reason: "PodCompleted"}
		notInit = notReady
	}
	// PodReadyToStartContainers: the sandbox (network namespace and
	// address) is up, as the kubelet reports it since Kubernetes 1.29.
	sandboxReady := state.sandbox != nil && state.sandbox.State == runtime.SandboxReady
	s.Conditions = setPodCondition(s.Conditions, corev1.PodReadyToStartContainers, condition{ok: sandboxReady}, now)
	s.Conditions = setPodCondition(s.Conditions, corev1.PodInitialized, condition{ok: initialized, reason: notInit.reason, message: notInit.message}, now)
	notReady.ok = len(unready) == 0
	s.Conditions = setPodCondition(s.Conditions, corev1.ContainersReady, notReady, now)
	s.Conditions = setPodCondition(s.Conditions, corev1.PodReady, notReady, now)
	return s
}

// condition is a pod condition's state: ok, or the reason and message
// why not.
type condition struct {
	ok              bool
	reason, message string
}

func setPodCondition(conds []corev1.PodCondition, typ corev1.PodConditionType, c condition, now metav1.Time) []corev1.PodCondition {
	status, reason, message := corev1.ConditionFalse, c.reason, c.message
	if c.ok {
		status, reason, message = corev1.ConditionTrue, "", ""
	}
	out := make([]corev1.PodCondition, 0, len(conds)+1)
	found := false
	for _, old := range conds {
		if old.Type == typ {
			found = true
			if old.Status != status {
				old.Status, old.LastTransitionTime = status, now
			}
			old.Reason, old.Message = reason, message
		}
		out = append(out, old)
	}
	if !found {
		out = append(out, corev1.PodCondition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: now})
	}
	return out
}

// containerStatus is the API status of one container given the runtime's
// latest attempt of it (nil: none yet) and a waiting reason the sync found
// (crash-loop back-off, image errors), which wins over the runtime state.
func containerStatus(c corev1.Container, rc *runtime.ContainerStatus, waiting *corev1.ContainerStateWaiting, old []corev1.ContainerStatus) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	for _, prev := range old {
		if prev.Name == c.Name {
			cs.LastTerminationState = prev.LastTerminationState
		}
	}
	cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	if rc != nil {
		cs.RestartCount = int32(rc.Attempt)
		cs.ContainerID = "docker://" + rc.ID
		cs.ImageID = rc.ImageID
		switch rc.State {
		case runtime.ContainerRunning:
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(rc.StartedAt)}}
			cs.Ready, cs.Started = true, ptr.To(true)
		case runtime.ContainerExited:
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: int32(rc.ExitCode), Reason: rc.Reason, Message: rc.Message,
				StartedAt: metav1.NewTime(rc.StartedAt), FinishedAt: metav1.NewTime(rc.FinishedAt), ContainerID: cs.ContainerID,
			}}
			cs.Started = ptr.To(false)
		}
	}
	if waiting != nil {
		if cs.State.Terminated != nil {
			cs.LastTerminationState = corev1.ContainerState{Terminated: cs.State.Terminated}
		}
		cs.State = corev1.ContainerState{Waiting: waiting}
		cs.Ready = false
	}
	return cs
}
