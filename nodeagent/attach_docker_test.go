package nodeagent_test

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/gantryhq/gantry/nodeagent"
)

// TestKubectlAttachOnDocker runs `kubectl attach` (WebSocket and SPDY, and
// the oldest and newest supported kubectl) against a pod on Docker that
// keeps printing, until its output arrives.
func TestKubectlAttachOnDocker(t *testing.T) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("needs root for Docker")
	}
	dir := kubectlDir(t)
	node := "node-" + rand.String(6)
	cs := apiServer(t)
	rt := dockerRuntime(t, node)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: node, Client: cs, Runtime: rt,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
		RenewInterval: time.Second, StatusUpdateInterval: time.Second, SyncInterval: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	name := "ticker-" + rand.String(5)
	_, err = pods.Create(ctx, busyboxPod(name, node, corev1.RestartPolicyAlways,
		"sh", "-c", `i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done`), metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the pod to run", time.Minute, func() (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, nil, 0o600))
	host := apiHost(cs)
	for _, v := range []struct {
		name, binary string
		env          []string
	}{
		{name: "default", binary: "kubectl"},
		{name: "default-spdy", binary: "kubectl", env: []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}},
		{name: "1.27", binary: "kubectl.1.27"},
		{name: "1.33", binary: "kubectl.1.33"},
	} {
		t.Run(v.name, func(t *testing.T) {
			bin := filepath.Join(dir, v.binary)
			if _, err := os.Stat(bin); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is missing: %v", bin, err)
				}
				t.Skipf("%s is missing", bin)
			}
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			cmd := exec.CommandContext(cctx, bin, "--kubeconfig", kubeconfig, "-s", host, "-n", "default", "attach", name)
			cmd.Env = append(os.Environ(), v.env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}()
			// Two ticks: output keeps flowing from the running process.
			sc := bufio.NewScanner(out)
			var ticks []string
			for len(ticks) < 2 && sc.Scan() {
				if strings.HasPrefix(sc.Text(), "tick ") {
					ticks = append(ticks, sc.Text())
				}
			}
			if len(ticks) < 2 {
				// stderr is written until the process is gone.
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("kubectl attach printed %d ticks (scan: %v); stderr: %s", len(ticks), sc.Err(), stderr.String())
			}
			require.NotEqual(t, ticks[0], ticks[1])
		})
	}
	// Detaching left the process running: no restart.
	p, err := pods.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Zero(t, p.Status.ContainerStatuses[0].RestartCount)

	// A pod with stdin (stdinOnce) takes what kubectl attach -i sends:
	// cat echoes it and ends when kubectl closes its input.
	catName := "cat-" + rand.String(5)
	catPod := busyboxPod(catName, node, corev1.RestartPolicyNever, "cat")
	catPod.Spec.Containers[0].Stdin, catPod.Spec.Containers[0].StdinOnce = true, true
	_, err = pods.Create(ctx, catPod, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the cat pod to run", time.Minute, func() (bool, error) {
		p, err := pods.Get(ctx, catName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, filepath.Join(dir, "kubectl"), "--kubeconfig", kubeconfig, "-s", host, "-n", "default", "attach", "-i", catName)
	cmd.Stdin = strings.NewReader("hello from stdin\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "hello from stdin")
}
