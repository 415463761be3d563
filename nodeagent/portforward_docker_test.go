package nodeagent_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/gantryhq/gantry/nodeagent"
)

// TestPortForwardOnDocker forwards local ports to a web server in a pod on
// Docker through the API server's pods/portforward and the agent's
// /portForward, with client-go (SPDY) and kubectl port-forward.
func TestPortForwardOnDocker(t *testing.T) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("needs root for Docker")
	}
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
	name := "web-" + rand.String(5)
	_, err = pods.Create(ctx, busyboxPod(name, node, corev1.RestartPolicyAlways,
		"sh", "-c", `mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www`), metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the pod to run", time.Minute, func() (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", err
	})
	get := func(t *testing.T, port uint16) string {
		t.Helper()
		var body string
		waitFor(t, "the forwarded web server to answer", 30*time.Second, func() (bool, error) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			if err != nil {
				return false, nil // httpd may not listen yet
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			body = string(b)
			return err == nil && resp.StatusCode == http.StatusOK, nil
		})
		return body
	}

	// forward starts client-go's port forwarder for ports, over SPDY, or
	// SPDY tunnelled in a WebSocket.
	forward := func(t *testing.T, websocket bool, ports ...string) (fw *portforward.PortForwarder, stopCh chan struct{}, errc chan error) {
		t.Helper()
		cfg := &rest.Config{Host: apiHost(cs)}
		u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(name).SubResource("portforward").URL()
		var dialer httpstream.Dialer
		if websocket {
			var err error
			dialer, err = portforward.NewSPDYOverWebsocketDialer(u, cfg)
			require.NoError(t, err)
		} else {
			tr, up, err := spdy.RoundTripperFor(cfg)
			require.NoError(t, err)
			dialer = spdy.NewDialer(up, &http.Client{Transport: tr}, http.MethodPost, u)
		}
		var err error
		stopCh, readyCh := make(chan struct{}), make(chan struct{})
		fw, err = portforward.New(dialer, ports, stopCh, readyCh, io.Discard, io.Discard)
		require.NoError(t, err)
		errc = make(chan error, 1)
		go func() { errc <- fw.ForwardPorts() }()
		select {
		case <-readyCh:
		case err := <-errc:
			t.Fatalf("port forwarding failed: %v", err)
		case <-time.After(30 * time.Second):
			close(stopCh)
			t.Fatal("port forwarding did not get ready")
		}
		return fw, stopCh, errc
	}

	for _, websocket := range []bool{false, true} {
		t.Run(fmt.Sprintf("client-go websocket=%v", websocket), func(t *testing.T) {
			fw, stopCh, errc := forward(t, websocket, "0:8080")
			defer func() {
				close(stopCh)
				require.NoError(t, <-errc)
			}()
			ports, err := fw.GetPorts()
			require.NoError(t, err)
			require.Len(t, ports, 1)
			for i := 0; i < 3; i++ { // several connections over one session
				assert.Equal(t, "hello from "+name+"\n", get(t, ports[0].Local))
			}
		})
	}

	t.Run("closed port", func(t *testing.T) {
		// Nothing listens on 8081: the agent's error reaches the client,
		// which ends the session.
		fw, stopCh, errc := forward(t, false, "0:8081")
		defer close(stopCh)
		ports, err := fw.GetPorts()
		require.NoError(t, err)
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a connection to a closed port answered %s", resp.Status)
		}
		select {
		case err := <-errc:
			require.Error(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("the session went on after the agent's error")
		}
	})

	t.Run("kubectl", func(t *testing.T) {
		dir := kubectlDir(t)
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, os.WriteFile(kubeconfig, nil, 0o600))
		for _, bin := range []string{"kubectl", "kubectl.1.27", "kubectl.1.33"} {
			t.Run(bin, func(t *testing.T) {
				path := filepath.Join(dir, bin)
				if _, err := os.Stat(path); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("%s is missing: %v", path, err)
					}
					t.Skipf("%s is missing", path)
				}
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				cmd := exec.CommandContext(cctx, path, "--kubeconfig", kubeconfig, "-s", apiHost(cs), "-n", "default",
					"port-forward", "pod/"+name, ":8080")
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.StdoutPipe()
				require.NoError(t, err)
				require.NoError(t, cmd.Start())
				defer func() {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}()
				// "Forwarding from 127.0.0.1:41234 -> 8080"
				re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`)
				sc := bufio.NewScanner(out)
				var port uint16
				for port == 0 && sc.Scan() {
					if m := re.FindStringSubmatch(sc.Text()); m != nil {
						_, err := fmt.Sscan(m[1], &port)
						require.NoError(t, err)
					}
				}
				require.NotZero(t, port, "kubectl printed no local port; stderr: %s", stderr.String())
				go func() { _, _ = io.Copy(io.Discard, out) }()
				assert.Equal(t, "hello from "+name+"\n", get(t, port), "stderr: %s", stderr.String())
			})
		}
	})
}
