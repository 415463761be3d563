package nodeagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/runtime"
)

// minStopGrace is what is left for stopping a container whose preStop hook
// used up its grace period (the kubelet's minimum, 2s).
const minStopGrace = 2 * time.Second

// runHook runs one lifecycle handler (exec, httpGet or sleep) against a
// running container, for at most timeout. Nil means success.
func (a *Agent) runHook(ctx context.Context, h *corev1.LifecycleHandler, c *corev1.Container, rc *runtime.ContainerStatus, podIP string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		if len(h.Exec.Command) == 0 {
			return errors.New("exec hook has no command")
		}
		var out bytes.Buffer
		code, err := a.rt.Exec(ctx, rc.ID, runtime.ExecOptions{Cmd: h.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			return fmt.Errorf("command %q: %w", strings.Join(h.Exec.Command, " "), err)
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", strings.Join(h.Exec.Command, " "), code, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	case h.HTTPGet != nil:
		if err := httpGet(ctx, h.HTTPGet, c, podIP); err != nil {
			return fmt.Errorf("HTTP GET %s: %w", h.HTTPGet.Path, err)
		}
		return nil
	case h.Sleep != nil:
		select {
		case <-a.clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case h.TCPSocket != nil:
		return errors.New("tcpSocket lifecycle hooks are not supported (deprecated in Kubernetes)")
	}
	return errors.New("lifecycle hook has no action")
}

// postStart runs a container's postStart hook once it has started. When
// the hook fails, the container is stopped (killed after the pod's grace
// period) and a FailedPostStartHook event says why; the container then
// restarts as its restart policy says. The hook may run for at most the
// pod's termination grace period.
func (a *Agent) postStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, rc *runtime.ContainerStatus, podIP string) error {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil || rc.State != runtime.ContainerRunning {
		return nil
	}
	grace := time.Duration(ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
	err := a.runHook(ctx, c.Lifecycle.PostStart, c, rc, podIP, max(grace, minStopGrace))
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("PostStartHook failed for container %s: %v", c.Name, err)
	a.log.WarnContext(ctx, "postStart hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
	a.warn(pod, "FailedPostStartHook", msg)
	if stopErr := a.rt.StopContainer(ctx, rc.ID, grace); stopErr != nil && !errors.Is(stopErr, runtime.ErrNotFound) {
		return fmt.Errorf("%s; stopping the container: %w", msg, stopErr)
	}
	return errors.New(msg)
}

// stopContainer stops a running container within grace: first its preStop
// hook (spec may be nil: no hook), for at most grace, then the runtime's
// stop with what is left of grace (at least 2s when the hook used it all).
// A failing hook is reported (FailedPreStopHook event) and the container
// stops all the same. With a zero grace period no hook runs.
func (a *Agent) stopContainer(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, rc *runtime.ContainerStatus, podIP string, grace time.Duration) error {
	if spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 {
		start := a.clock.Now()
		if err := a.runHook(ctx, spec.Lifecycle.PreStop, spec, rc, podIP, grace); err != nil && ctx.Err() == nil {
			msg := fmt.Sprintf("PreStopHook failed for container %s: %v", spec.Name, err)
			a.log.WarnContext(ctx, "preStop hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", spec.Name, "err", err)
			a.warn(pod, "FailedPreStopHook", msg)
		}
		grace = max(grace-a.clock.Since(start), minStopGrace)
	}
	if err := a.rt.StopContainer(ctx, rc.ID, grace); err != nil {
		return fmt.Errorf("pod %q: stopping container %s: %w", pod.Namespace+"/"+pod.Name, rc.Name, err)
	}
	return nil
}

// containerSpec finds a container of pod by name (app or init); nil if
// there is none.
func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
