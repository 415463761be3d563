package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/runtime"
)

// podState is what the runtime holds for one pod.
type podState struct {
	// ready and started hold the probe results of running containers
	// (absent: no probe, so ready and started).
	ready, started map[string]bool
	sandbox        *runtime.SandboxStatus
	// containers holds, per container name, the latest attempt's status.
	containers map[string]*runtime.ContainerStatus
}

// observe reads a pod's sandbox and containers from the runtime.
func (a *Agent) observe(ctx context.Context, uid types.UID) (*podState, error) {
	st := &podState{containers: map[string]*runtime.ContainerStatus{}, ready: map[string]bool{}, started: map[string]bool{}}
	var err error
	if st.sandbox, err = a.readySandbox(ctx, uid); err != nil {
		return nil, err
	}
	containers, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{Labels: map[string]string{runtime.LabelPodUID: string(uid)}})
	if err != nil {
		return nil, err
	}
	for _, c := range containers {
		if st.sandbox == nil || c.SandboxID != st.sandbox.ID {
			continue
		}
		if cur := st.containers[c.Name]; cur != nil && cur.Attempt >= c.Attempt {
			continue
		}
		s, err := a.rt.ContainerStatus(ctx, c.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st.containers[c.Name] = &s
	}
	return st, nil
}

// readySandbox returns the status of a pod's newest ready sandbox, nil
// when it has none.
func (a *Agent) readySandbox(ctx context.Context, uid types.UID) (*runtime.SandboxStatus, error) {
	sandboxes, err := a.rt.ListSandboxes(ctx, runtime.SandboxFilter{Labels: map[string]string{runtime.LabelPodUID: string(uid)}})
	if err != nil {
		return nil, err
	}
	var newest *runtime.Sandbox
	for i := range sandboxes {
		if sb := &sandboxes[i]; sb.State == runtime.SandboxReady && (newest == nil || sb.Attempt > newest.Attempt) {
			newest = sb
		}
	}
	if newest == nil {
		return nil, nil
	}
	s, err := a.rt.SandboxStatus(ctx, newest.ID)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// syncPod makes the runtime match one pod and reports its status. It
// returns when to look again (0: on the next change of the pod).
func (a *Agent) syncPod(ctx context.Context, key string) (time.Duration, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	if a.static.has(key) {
		return a.syncStatic(ctx, key)
	}
	if !a.podsSynced.Load() {
		return 0, nil // Run queues every pod once the informer has synced
	}
	pod, err := a.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// Gone from the API: housekeeping removes what is left of it.
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pod = pod.DeepCopy()
	if isMirrorPod(pod) {
		// Its static pod is gone (or never was on this node).
		return 0, a.deleteMirror(ctx, pod)
	}
	if pod.DeletionTimestamp != nil {
		return 0, a.terminate(ctx, pod)
	}
	return a.runPod(ctx, pod)
}

// runPod makes the runtime run pod (one not being deleted) and reports its
// status. It returns when to look again.
func (a *Agent) runPod(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	key := pod.Namespace + "/" + pod.Name
	state, err := a.observe(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if terminal {
		return 0, a.stopAll(ctx, pod, state, 0)
	}

	waiting := map[string]*corev1.ContainerStateWaiting{}
	requeue := a.opts.SyncInterval
	// Volumes come first, and are refreshed on every sync.
	vols, err := a.volumes.setUp(ctx, pod)
	if err != nil {
		a.log.WarnContext(ctx, "setting up the pod's volumes", "pod", key, "err", err)
		a.warn(pod, "FailedMount", err.Error())
		if len(vols) < len(pod.Spec.Volumes) {
			// Some volume was never ready: the pod waits for it.
			for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
				waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: err.Error()}
			}
			return a.opts.BackOff, a.updateStatus(ctx, pod, state, waiting)
		}
	}
	if state.sandbox == nil {
		sb, err := a.runSandbox(ctx, pod)
		if err != nil {
			a.log.WarnContext(ctx, "starting the pod sandbox", "pod", key, "err", err)
			for _, c := range pod.Spec.Containers {
				waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: err.Error()}
			}
			return a.opts.BackOff, a.updateStatus(ctx, pod, state, waiting)
		}
		state.sandbox = sb
	}
	initDone, initWait := a.runInit(ctx, pod, state, waiting, vols)
	if !initDone {
		if initWait > 0 {
			requeue = min(requeue, initWait)
		}
		return requeue, a.updateStatus(ctx, pod, state, waiting)
	}
	podIP := ""
	if state.sandbox.IP.IsValid() {
		podIP = state.sandbox.IP.String()
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := state.containers[c.Name]
		var attempt uint32
		if cur != nil && cur.State == runtime.ContainerRunning {
			res := a.probe(ctx, pod, c, cur, podIP)
			state.ready[c.Name], state.started[c.Name] = res.ready, res.started
			if res.next > 0 {
				requeue = min(requeue, res.next)
			}
			if res.kill != "" {
				a.log.InfoContext(ctx, "restarting a container that failed its probe", "pod", key, "container", c.Name, "reason", res.kill)
				a.event(pod, corev1.EventTypeNormal, "Killing", res.kill)
				grace := time.Duration(ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
				if err := a.stopContainer(ctx, pod, c, cur, podIP, grace); err != nil {
					return 0, err
				}
				requeue = min(requeue, 10*time.Millisecond)
			}
			continue
		}
		if cur != nil {
			if cur.State != runtime.ContainerExited || !shouldRestart(pod.Spec.RestartPolicy, cur.ExitCode) {
				continue
			}
			attempt = cur.Attempt + 1
			if wait := cur.FinishedAt.Add(a.backoff.restartDelay(cur.Attempt)).Sub(a.clock.Now()); wait > 0 {
				waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
					Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", a.backoff.restartDelay(cur.Attempt).Round(time.Second), c.Name, pod.Name, pod.Namespace, pod.UID)}
				a.event(pod, corev1.EventTypeWarning, "BackOff", fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID))
				requeue = min(requeue, wait)
				continue
			}
		}
		status, reason, err := a.startContainer(ctx, pod, c, state.sandbox, attempt, vols)
		if err != nil {
			waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}
			requeue = min(requeue, a.retryAfter(pod, c, a.opts.BackOff))
			continue
		}
		state.containers[c.Name] = status
	}
	return requeue, a.updateStatus(ctx, pod, state, waiting)
}

// runInit runs the pod's init containers one after the other; done says
// that all have succeeded. A failed one is retried with back-off unless the
// restart policy is Never (the pod then fails: see podStatus).
func (a *Agent) runInit(ctx context.Context, pod *corev1.Pod, state *podState, waiting map[string]*corev1.ContainerStateWaiting, vols map[string]string) (done bool, requeue time.Duration) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cur := state.containers[c.Name]
		var attempt uint32
		switch {
		case cur == nil:
		case cur.State == runtime.ContainerExited && cur.ExitCode == 0:
			continue
		case cur.State == runtime.ContainerExited && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return false, 0
		case cur.State == runtime.ContainerExited:
			attempt = cur.Attempt + 1
			if wait := cur.FinishedAt.Add(a.backoff.restartDelay(cur.Attempt)).Sub(a.clock.Now()); wait > 0 {
				waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
					Message: fmt.Sprintf("back-off %s restarting failed init container=%s", a.backoff.restartDelay(cur.Attempt).Round(time.Second), c.Name)}
				a.event(pod, corev1.EventTypeWarning, "BackOff", fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID))
				return false, wait
			}
		default: // running or created: wait for it
			return false, a.opts.SyncInterval
		}
		status, reason, err := a.startContainer(ctx, pod, c, state.sandbox, attempt, vols)
		if err != nil {
			waiting[c.Name] = &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}
			return false, a.retryAfter(pod, c, a.opts.BackOff)
		}
		state.containers[c.Name] = status
		return false, a.opts.SyncInterval
	}
	return true, 0
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

func (a *Agent) runSandbox(ctx context.Context, pod *corev1.Pod) (*runtime.SandboxStatus, error) {
	existing, err := a.rt.ListSandboxes(ctx, runtime.SandboxFilter{Labels: map[string]string{runtime.LabelPodUID: string(pod.UID)}})
	if err != nil {
		return nil, err
	}
	// Old, not-ready sandboxes of the pod go before a new one comes.
	var attempt uint32
	for _, sb := range existing {
		attempt = max(attempt, sb.Attempt+1)
		if err := a.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			return nil, err
		}
	}
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	cfg := runtime.SandboxConfig{
		Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID), Attempt: attempt,
		Hostname: hostname, Labels: map[string]string{runtime.LabelNode: a.opts.NodeName},
		Network: a.opts.Network,
	}
	if pod.Spec.HostNetwork {
		cfg.Network = runtime.NetworkConfig{HostNetwork: true}
	} else {
		cfg.DNS = a.opts.DNS
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				cfg.PortMappings = append(cfg.PortMappings, runtime.PortMapping{
					Protocol: runtime.Protocol(p.Protocol), ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP,
				})
			}
		}
	}
	id, err := a.rt.RunSandbox(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st, err := a.rt.SandboxStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// event records an event on pod, as the kubelet does (source "kubelet"
// on this node). It does not block.
func (a *Agent) event(pod *corev1.Pod, eventType, reason, msg string) {
	a.events.event(pod, eventType, reason, msg)
}

// warn records a warning event on pod.
func (a *Agent) warn(pod *corev1.Pod, reason, msg string) {
	a.event(pod, corev1.EventTypeWarning, reason, msg)
}

// startContainer pulls the image, creates and starts one container with
// its volume mounts (vols: the host paths of the pod's volumes), and
// records the kubelet's events (Created, Started; Failed with the error).
// On failure it returns the waiting reason the pod status shows.
func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *runtime.SandboxStatus, attempt uint32, vols map[string]string) (*runtime.ContainerStatus, string, error) {
	st, reason, err := a.createAndStart(ctx, pod, c, sb, attempt, vols)
	switch {
	case err == nil:
	case reason == "ErrImageNeverPull" || reason == "ErrImagePull" || reason == "ImagePullBackOff":
		// The pull has its own event; Failed names the reason.
		a.event(pod, corev1.EventTypeWarning, "Failed", "Error: "+reason)
	default:
		a.event(pod, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
	}
	return st, reason, err
}

func (a *Agent) createAndStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *runtime.SandboxStatus, attempt uint32, vols map[string]string) (*runtime.ContainerStatus, string, error) {
	if reason, err := a.pullImage(ctx, pod, c); err != nil {
		return nil, reason, err
	}
	cfg := runtime.ContainerConfig{
		Name: c.Name, Attempt: attempt, Image: c.Image, Command: c.Command, Args: c.Args, WorkingDir: c.WorkingDir,
		Resources: containerResources(c), Stdin: c.Stdin, StdinOnce: c.StdinOnce, TTY: c.TTY,
	}
	if sc := c.SecurityContext; sc != nil && sc.Privileged != nil {
		cfg.Privileged = *sc.Privileged
	}
	podIP := ""
	if sb.IP.IsValid() {
		podIP = sb.IP.String()
	}
	env, err := a.containerEnv(ctx, pod, c, podIP)
	if err != nil {
		return nil, "CreateContainerConfigError", err
	}
	cfg.Env = env
	if cfg.Mounts, err = a.volumes.containerMounts(pod, c, vols, env); err != nil {
		return nil, "CreateContainerConfigError", err
	}
	id, err := a.rt.CreateContainer(ctx, sb.ID, cfg)
	if err != nil {
		return nil, "CreateContainerError", err
	}
	a.event(pod, corev1.EventTypeNormal, "Created", "Created container: "+c.Name)
	if err := a.rt.StartContainer(ctx, id); err != nil {
		return nil, "RunContainerError", err
	}
	a.event(pod, corev1.EventTypeNormal, "Started", "Started container "+c.Name)
	st, err := a.rt.ContainerStatus(ctx, id)
	if err != nil {
		return nil, "RunContainerError", err
	}
	if err := a.postStart(ctx, pod, c, &st, podIP); err != nil {
		return nil, "PostStartHookError", err
	}
	return &st, "", nil
}

// containerResources maps requests and limits to the runtime: CPU shares
// from the request (1024 per CPU), a CFS quota from the limit, the memory
// limit.
func containerResources(c *corev1.Container) runtime.Resources {
	var r runtime.Resources
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPUShares = max(2, q.MilliValue()*1024/1000)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPUPeriod = 100000
		r.CPUQuota = max(1000, q.MilliValue()*r.CPUPeriod/1000)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimit = q.Value()
	}
	return r
}

// terminate stops a pod being deleted, within its grace period, removes it
// from the runtime and then from the API server.
func (a *Agent) terminate(ctx context.Context, pod *corev1.Pod) error {
	state, err := a.observe(ctx, pod.UID)
	if err != nil {
		return err
	}
	grace := time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 30)) * time.Second
	if err := a.stopAll(ctx, pod, state, grace); err != nil {
		return err
	}
	if err := a.removePod(ctx, pod.UID); err != nil {
		return err
	}
	if err := a.volumes.tearDown(pod.UID); err != nil {
		return err
	}
	err = a.cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// stopAll stops the running containers of a pod in parallel, each after
// its preStop hook, within grace.
func (a *Agent) stopAll(ctx context.Context, pod *corev1.Pod, state *podState, grace time.Duration) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(state.containers))
	podIP := ""
	if state.sandbox != nil && state.sandbox.IP.IsValid() {
		podIP = state.sandbox.IP.String()
	}
	for _, c := range state.containers {
		if c.State != runtime.ContainerRunning {
			continue
		}
		spec := containerSpec(pod, c.Name)
		wg.Add(1)
		a.event(pod, corev1.EventTypeNormal, "Killing", "Stopping container "+c.Name)
		go func() {
			defer wg.Done()
			if err := a.stopContainer(ctx, pod, spec, c, podIP, grace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return errors.Join(slices.Collect(chanValues(errs))...)
}

func chanValues[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

// removePod removes every sandbox (and with it every container) of a pod.
func (a *Agent) removePod(ctx context.Context, uid types.UID) error {
	sandboxes, err := a.rt.ListSandboxes(ctx, runtime.SandboxFilter{Labels: map[string]string{runtime.LabelPodUID: string(uid)}})
	if err != nil {
		return err
	}
	for _, sb := range sandboxes {
		if err := a.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			return err
		}
	}
	return nil
}

// housekeeping removes the runtime's pods of this node that no longer
// exist in the API (or as static pods), their volumes, and the probes of
// containers that stopped. The agent runs it every sync interval.
func (a *Agent) housekeeping(ctx context.Context) {
	sandboxes, err := a.rt.ListSandboxes(ctx, runtime.SandboxFilter{Labels: map[string]string{runtime.LabelNode: a.opts.NodeName}})
	if err != nil {
		return
	}
	live, err := a.livePods()
	if err != nil {
		return
	}
	if cs, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{State: runtime.ContainerRunning}); err == nil {
		keep := map[string]bool{}
		for _, c := range cs {
			keep[c.ID] = true
		}
		a.probes.forget(keep)
	}
	for _, sb := range sandboxes {
		if !live[types.UID(sb.UID)] {
			a.log.InfoContext(ctx, "removing an orphaned pod", "pod", sb.Namespace+"/"+sb.Name, "uid", sb.UID)
			if err := a.rt.RemoveSandbox(ctx, sb.ID); err != nil {
				a.log.WarnContext(ctx, "removing an orphaned pod", "uid", sb.UID, "err", err)
			}
		}
	}
	if err := a.volumes.sweep(a.livePods); err != nil {
		a.log.WarnContext(ctx, "removing the volumes of orphaned pods", "err", err)
	}
}

// livePods are the UIDs of the pods bound to the node.
func (a *Agent) livePods() (map[types.UID]bool, error) {
	pods, err := a.pods.List(everything)
	if err != nil {
		return nil, err
	}
	live := make(map[types.UID]bool, len(pods))
	for _, p := range pods {
		live[p.UID] = true
	}
	for _, uid := range a.static.uids() {
		live[uid] = true
	}
	return live, nil
}
