package nodeagent_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/docker"
	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

func apiServer(t testing.TB) kubernetes.Interface {
	t.Helper()
	return apiservertest.Start(t, apiserver.Options{}).Client
}

// dockerRuntime is a Docker runtime that sees only what this test creates,
// and removes it all when the test ends.
func dockerRuntime(t testing.TB, node string) runtime.Runtime {
	t.Helper()
	cli := runtimetest.DockerClient(t)
	runtimetest.EnsureImages(context.Background(), t, cli)
	rt, err := docker.New(docker.Options{Client: cli, NodeName: node})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sbs, err := rt.ListSandboxes(ctx, runtime.SandboxFilter{})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, sb := range sbs {
			if err := rt.RemoveSandbox(ctx, sb.ID); err != nil {
				t.Errorf("cleanup: removing sandbox %s: %v", sb.ID, err)
			}
		}
	})
	return rt
}

func busyboxPod(name, node string, policy corev1.RestartPolicy, cmd ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 policy,
			TerminationGracePeriodSeconds: ptr.To(int64(2)),
			Containers: []corev1.Container{{
				Name: "main", Image: images.Busybox, ImagePullPolicy: corev1.PullNever, Command: cmd,
			}},
		},
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
		case <-tick.C:
		}
	}
}

func TestAgentOnDocker(t *testing.T) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("needs root for Docker")
	}
	node := "node-" + rand.String(6)
	cs := apiServer(t)
	rt := dockerRuntime(t, node)
	opts := nodeagent.Options{
		NodeName: node, Client: cs, Runtime: rt,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
		RenewInterval: time.Second, StatusUpdateInterval: time.Second, SyncInterval: 300 * time.Millisecond,
		BackOff: 200 * time.Millisecond, MaxBackOff: time.Second,
	}
	// start runs an agent until the returned stop is called.
	start := func() (stop func()) {
		agent, err := nodeagent.New(opts)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx) }()
		return func() {
			cancel()
			require.NoError(t, <-done)
		}
	}
	stop := start()
	t.Cleanup(func() { stop() })
	ctx := context.Background()

	pods := cs.CoreV1().Pods("default")
	waitFor(t, "the node to be Ready", 30*time.Second, func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	_, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node, metav1.GetOptions{})
	require.NoError(t, err, "the node lease")

	t.Run("a pod runs and gets an IP", func(t *testing.T) {
		_, err := pods.Create(ctx, busyboxPod("sleeper", node, corev1.RestartPolicyAlways, "sleep", "3600"), metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "the pod to run", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && podReady(p), fmt.Errorf("phase %s, ip %q", p.Status.Phase, p.Status.PodIP)
		})
	})

	t.Run("restartPolicy Never: a failed container fails the pod", func(t *testing.T) {
		_, err := pods.Create(ctx, busyboxPod("fails", node, corev1.RestartPolicyNever, "sh", "-c", "exit 3"), metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "the pod to fail", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "fails", metav1.GetOptions{})
			if err != nil || len(p.Status.ContainerStatuses) == 0 {
				return false, err
			}
			term := p.Status.ContainerStatuses[0].State.Terminated
			return p.Status.Phase == corev1.PodFailed && term != nil && term.ExitCode == 3, nil
		})
	})

	t.Run("restartPolicy Always: a crashing container restarts", func(t *testing.T) {
		_, err := pods.Create(ctx, busyboxPod("crasher", node, corev1.RestartPolicyAlways, "sh", "-c", "exit 1"), metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "two restarts", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "crasher", metav1.GetOptions{})
			if err != nil || len(p.Status.ContainerStatuses) == 0 {
				return false, err
			}
			return p.Status.ContainerStatuses[0].RestartCount >= 2, nil
		})
	})

	t.Run("an image that is absent with policy Never", func(t *testing.T) {
		p := busyboxPod("noimage", node, corev1.RestartPolicyAlways, "true")
		p.Spec.Containers[0].Image = "gantry.local/absent:never"
		_, err := pods.Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "ErrImageNeverPull", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "noimage", metav1.GetOptions{})
			if err != nil || len(p.Status.ContainerStatuses) == 0 {
				return false, err
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "ErrImageNeverPull", nil
		})
	})

	t.Run("logs through the API server", func(t *testing.T) {
		_, err := pods.Create(ctx, busyboxPod("talker", node, corev1.RestartPolicyAlways, "sh", "-c", "echo hello; echo oops >&2; sleep 3600"), metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "the logs", time.Minute, func() (bool, error) {
			out, err := pods.GetLogs("talker", &corev1.PodLogOptions{}).DoRaw(ctx)
			return strings.Contains(string(out), "hello\n") && strings.Contains(string(out), "oops\n"), err
		})
		stream, err := pods.GetLogs("talker", &corev1.PodLogOptions{Follow: true, TailLines: ptr.To(int64(1))}).Stream(ctx)
		require.NoError(t, err)
		defer stream.Close()
		buf := make([]byte, 64)
		n, err := stream.Read(buf)
		require.NoError(t, err)
		require.Contains(t, "hello\noops\n", string(buf[:n]), "a followed log starts with the tail")
		_, err = pods.GetLogs("talker", &corev1.PodLogOptions{Container: "nope"}).DoRaw(ctx)
		require.True(t, apierrors.IsBadRequest(err), "%v", err)
	})

	t.Run("a restarted agent adopts running containers", func(t *testing.T) {
		before, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
		require.NoError(t, err)
		stop()
		stop = start()
		// A pod created now runs only once the new agent syncs; by then it
		// has seen the old pod too.
		_, err = pods.Create(ctx, busyboxPod("probe-sync", node, corev1.RestartPolicyAlways, "sleep", "3600"), metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "the new agent to run a pod", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "probe-sync", metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning, err
		})
		after, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, before.Status.ContainerStatuses[0].ContainerID, after.Status.ContainerStatuses[0].ContainerID)
		require.Equal(t, int32(0), after.Status.ContainerStatuses[0].RestartCount)
		cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{Labels: map[string]string{runtime.LabelPodName: "sleeper"}})
		require.NoError(t, err)
		require.Len(t, cs, 1, "no duplicate container")
	})

	t.Run("init containers, env from config maps and the downward API", func(t *testing.T) {
		_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "greeting"}, Data: map[string]string{"text": "hi"},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		p := busyboxPod("envpod", node, corev1.RestartPolicyAlways, "sh", "-c", "echo $GREETING $POD_NAME $(cat /proc/1/comm 2>/dev/null >/dev/null; echo ok); sleep 3600")
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: images.Busybox, ImagePullPolicy: corev1.PullNever, Command: []string{"true"}}}
		p.Spec.Containers[0].Env = []corev1.EnvVar{
			{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "greeting"}, Key: "text"}}},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}
		_, err = pods.Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "the pod's output", time.Minute, func() (bool, error) {
			out, err := pods.GetLogs("envpod", &corev1.PodLogOptions{}).DoRaw(ctx)
			return strings.Contains(string(out), "hi envpod ok"), fmt.Errorf("%v: %q", err, out)
		})
		// The status that says so may land just after the output does.
		waitFor(t, "the init container's status", 30*time.Second, func() (bool, error) {
			got, err := pods.Get(ctx, "envpod", metav1.GetOptions{})
			if err != nil || len(got.Status.InitContainerStatuses) != 1 {
				return false, err
			}
			term := got.Status.InitContainerStatuses[0].State.Terminated
			return term != nil && term.ExitCode == 0 && got.Status.Phase == corev1.PodRunning, nil
		})

		// A missing config map holds the container with a clear reason.
		bad := busyboxPod("noconfig", node, corev1.RestartPolicyAlways, "true")
		bad.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}}}
		_, err = pods.Create(ctx, bad, metav1.CreateOptions{})
		require.NoError(t, err)
		waitFor(t, "CreateContainerConfigError", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "noconfig", metav1.GetOptions{})
			if err != nil || len(p.Status.ContainerStatuses) == 0 {
				return false, err
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "CreateContainerConfigError", nil
		})
	})

	t.Run("probes: readiness gates Ready, liveness restarts", func(t *testing.T) {
		web := busyboxPod("web", node, corev1.RestartPolicyAlways)
		web.Spec.Containers[0].Image = images.Echo
		web.Spec.Containers[0].Command = nil
		web.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		web.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
			PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 1,
		}
		unready := busyboxPod("unready", node, corev1.RestartPolicyAlways, "sleep", "3600")
		unready.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9)}},
			PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 1,
		}
		dying := busyboxPod("dying", node, corev1.RestartPolicyAlways, "sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600")
		dying.Spec.Containers[0].LivenessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
			PeriodSeconds: 1, FailureThreshold: 2, SuccessThreshold: 1, TimeoutSeconds: 2,
		}
		for _, p := range []*corev1.Pod{web, unready, dying} {
			_, err := pods.Create(ctx, p, metav1.CreateOptions{})
			require.NoError(t, err)
		}
		waitFor(t, "the echo server to be Ready", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "web", metav1.GetOptions{})
			return err == nil && podReady(p), err
		})
		waitFor(t, "the liveness probe to restart a container", time.Minute, func() (bool, error) {
			p, err := pods.Get(ctx, "dying", metav1.GetOptions{})
			return err == nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1, err
		})
		p, err := pods.Get(ctx, "unready", metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, corev1.PodRunning, p.Status.Phase)
		require.False(t, podReady(p), "a failing readiness probe keeps the pod unready")
	})

	t.Run("deleting a pod stops it and removes it", func(t *testing.T) {
		require.NoError(t, pods.Delete(ctx, "sleeper", metav1.DeleteOptions{}))
		waitFor(t, "the pod to be gone", time.Minute, func() (bool, error) {
			_, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		waitFor(t, "no containers of the deleted pod", 30*time.Second, func() (bool, error) {
			cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{})
			if err != nil {
				return false, err
			}
			for _, c := range cs {
				if c.Labels[runtime.LabelPodName] == "sleeper" {
					return false, nil
				}
			}
			return true, nil
		})
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
