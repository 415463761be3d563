package nodeagent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// register makes sure the agent's Node exists - it creates it, or with
// Options.DisableRegistration waits for an administrator to - then takes
// the lease and posts status. Failures are retried with back-off (1 s
// doubling to 30 s) until ctx is done, as the API server may come up after
// the agent.
func (a *Agent) register(ctx context.Context) error {
	delay := time.Second
	for attempt := 1; ; attempt++ {
		err := a.registerOnce(ctx)
		if err == nil {
			a.log.InfoContext(ctx, "node registered")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt == 1 || attempt%10 == 0 {
			a.log.WarnContext(ctx, "node not registered yet; retrying", "err", err, "attempt", attempt)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.clock.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// errNoNode is registerOnce's error while an administrator has not created
// the Node of an agent with registration disabled.
var errNoNode = errors.New("waiting for an administrator to create the Node (registration is disabled)")

func (a *Agent) registerOnce(ctx context.Context) error {
	if a.opts.DisableRegistration {
		if _, err := a.cs.CoreV1().Nodes().Get(ctx, a.opts.NodeName, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("nodeagent: node %q: %w", a.opts.NodeName, errNoNode)
			}
			return fmt.Errorf("nodeagent: node %q: %w", a.opts.NodeName, err)
		}
		return a.startHeartbeats(ctx)
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.opts.NodeName, Labels: a.nodeLabels()},
		Spec:       corev1.NodeSpec{Taints: a.opts.Taints},
	}
	_, err := a.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Keep what others set (cordon, taints); make our labels true.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := a.cs.CoreV1().Nodes().Get(ctx, a.opts.NodeName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cur.Labels == nil {
				cur.Labels = map[string]string{}
			}
			for k, v := range a.nodeLabels() {
				cur.Labels[k] = v
			}
			_, err = a.cs.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("nodeagent: registering node %q: %w", a.opts.NodeName, err)
	}
	return a.startHeartbeats(ctx)
}

// startHeartbeats takes the lease, then posts status: a node that reports
// Ready has its lease.
func (a *Agent) startHeartbeats(ctx context.Context) error {
	if err := a.renewLease(ctx); err != nil {
		return fmt.Errorf("nodeagent: node %q: %w", a.opts.NodeName, err)
	}
	if err := a.postStatus(ctx); err != nil {
		return fmt.Errorf("nodeagent: node %q: %w", a.opts.NodeName, err)
	}
	return nil
}

func (a *Agent) nodeLabels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   a.opts.NodeName,
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
	}
	for k, v := range a.opts.Labels {
		l[k] = v
	}
	return l
}

// heartbeat renews the lease and posts node status on their intervals
// until ctx is done.
func (a *Agent) heartbeat(ctx context.Context) {
	lease := a.clock.NewTicker(a.opts.RenewInterval)
	defer lease.Stop()
	status := a.clock.NewTicker(a.opts.StatusUpdateInterval)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C():
			if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
				a.log.WarnContext(ctx, "renewing the node lease", "err", err)
			}
		case <-status.C():
			if err := a.postStatus(ctx); err != nil && ctx.Err() == nil {
				a.log.WarnContext(ctx, "posting node status", "err", err)
			}
		}
	}
}

// renewLease creates or renews the node's Lease in kube-node-lease, owned
// by the Node so that it goes when the node does.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(a.clock.Now())
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(ctx, a.opts.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			node, err := a.cs.CoreV1().Nodes().Get(ctx, a.opts.NodeName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{
					Name: a.opts.NodeName, Namespace: corev1.NamespaceNodeLease,
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
				},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       ptr.To(a.opts.NodeName),
					LeaseDurationSeconds: ptr.To(int32(a.opts.LeaseDuration / time.Second)),
					RenewTime:            &now,
				},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		lease.Spec.HolderIdentity = ptr.To(a.opts.NodeName)
		lease.Spec.LeaseDurationSeconds = ptr.To(int32(a.opts.LeaseDuration / time.Second))
		lease.Spec.RenewTime = &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
}

// postStatus writes the node's conditions, capacity, addresses and info.
func (a *Agent) postStatus(ctx context.Context) error {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "node agent is posting ready status"}
	if err := a.rt.Health(ctx); err != nil {
		ready = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "container runtime is down: " + err.Error()}
	}
	runtimeVersion := "unknown"
	if v, err := a.rt.Version(ctx); err == nil {
		runtimeVersion = v.RuntimeName + "://" + v.RuntimeVersion
	}
	now := metav1.NewTime(a.clock.Now())
	conditions := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "node agent has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "node agent has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "node agent has sufficient PID available"},
		ready,
	}
	capacity := defaultCapacity(a.opts.Capacity, a.opts.RootDir)
	addresses := []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: a.opts.NodeName}}
	if a.opts.NodeIP.IsValid() {
		addresses = append([]corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.opts.NodeIP.String()}}, addresses...)
	}
	var changed []string // the reasons of the events of this status
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := a.cs.CoreV1().Nodes().Get(ctx, a.opts.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		changed = changed[:0]
		for _, c := range conditions {
			if reason := conditionEvent(&node.Status, c); reason != "" {
				changed = append(changed, reason)
			}
			setNodeCondition(&node.Status, c, now)
		}
		node.Status.Capacity = capacity
		node.Status.Allocatable = capacity
		node.Status.Addresses = addresses
		if a.port != 0 {
			node.Status.DaemonEndpoints.KubeletEndpoint.Port = a.port
		}
		node.Status.NodeInfo = corev1.NodeSystemInfo{
			MachineID: machineID(), KernelVersion: kernelVersion(), OSImage: osImage(),
			ContainerRuntimeVersion: runtimeVersion, KubeletVersion: a.opts.Version, KubeProxyVersion: a.opts.Version,
			OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
		}
		_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	for _, reason := range changed {
		a.nodeEvent(corev1.EventTypeNormal, reason, fmt.Sprintf("Node %s status is now: %s", a.opts.NodeName, reason))
	}
	return nil
}

// conditionEvent is the reason of the event a change of the node's
// condition to c is worth, as the kubelet names it, or "": the pressure
// conditions' when they are first posted or change, Ready's when it
// changes (a node's first Ready is no news).
func conditionEvent(status *corev1.NodeStatus, c corev1.NodeCondition) string {
	var old *corev1.NodeCondition
	for i := range status.Conditions {
		if status.Conditions[i].Type == c.Type {
			old = &status.Conditions[i]
		}
	}
	if old != nil && old.Status == c.Status {
		return ""
	}
	pick := func(ok, bad string) string {
		switch c.Status {
		case corev1.ConditionFalse:
			return ok
		case corev1.ConditionTrue:
			return bad
		}
		return ""
	}
	switch c.Type {
	case corev1.NodeReady:
		if old == nil {
			return ""
		}
		if c.Status == corev1.ConditionTrue {
			return "NodeReady"
		}
		return "NodeNotReady"
	case corev1.NodeMemoryPressure:
		return pick("NodeHasSufficientMemory", "NodeHasInsufficientMemory")
	case corev1.NodeDiskPressure:
		return pick("NodeHasNoDiskPressure", "NodeHasDiskPressure")
	case corev1.NodePIDPressure:
		return pick("NodeHasSufficientPID", "NodeHasInsufficientPID")
	}
	return ""
}

// nodeRef is the Node as the kubelet names it in its events: by name, with
// the name as UID (kubectl describe node looks for both UIDs); a cluster
// object's events go to the default namespace.
func (a *Agent) nodeRef() *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: a.opts.NodeName, UID: types.UID(a.opts.NodeName)}
}

// nodeEvent records an event on the Node (kept until the recorder runs).
func (a *Agent) nodeEvent(eventType, reason, msg string) {
	a.events.nodeEvent(a.nodeRef(), eventType, reason, msg)
}

// setNodeCondition sets c, moving its transition time only when its status
// changes; the heartbeat time is always now.
func setNodeCondition(status *corev1.NodeStatus, c corev1.NodeCondition, now metav1.Time) {
	c.LastHeartbeatTime = now
	for i := range status.Conditions {
		if status.Conditions[i].Type != c.Type {
			continue
		}
		c.LastTransitionTime = status.Conditions[i].LastTransitionTime
		if status.Conditions[i].Status != c.Status {
			c.LastTransitionTime = now
		}
		status.Conditions[i] = c
		return
	}
	c.LastTransitionTime = now
	status.Conditions = append(status.Conditions, c)
}

func numCPU() int { return goruntime.NumCPU() }

// memTotal reads MemTotal from /proc/meminfo (bytes), 0 if unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func kernelVersion() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func machineID() string {
	b, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return goruntime.GOOS
}
