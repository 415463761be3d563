package nodeagent_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/portforward"
)

// webServerScript runs busybox httpd on 127.0.0.1:8080 only, as a server
// that must not be reachable from outside the pod: / says "hello from"
// the hostname, /cgi-bin/peer "peer" and the client's address.
const webServerScript = `mkdir -p /www/cgi-bin && echo "hello from $(hostname)" > /www/index.html &&
printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho "peer $REMOTE_ADDR"\n' > /www/cgi-bin/peer &&
chmod +x /www/cgi-bin/peer && exec httpd -f -p 127.0.0.1:8080 -h /www`

// TestPortForwardOnDocker forwards local ports to a web server in a pod on
// Docker through the API server's pods/portforward and the agent's
// /portForward, with client-go (SPDY) and kubectl port-forward. The server
// listens on the pod's 127.0.0.1 only and sees the forwarded connections
// come from 127.0.0.1, as on Kubernetes.
func TestPortForwardOnDocker(t *testing.T) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("needs root for Docker")
	}
	node := "node-" + rand.String(6)
	cs := apiServer(t)
	rt := dockerRuntime(t, node)
	startPortForwardAgent(t, node, cs, rt)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	name := "web-" + rand.String(5)
	_, err := pods.Create(ctx, busyboxPod(name, node, corev1.RestartPolicyAlways, "sh", "-c", webServerScript), metav1.CreateOptions{})
	require.NoError(t, err)
	pod := waitPodRunning(t, cs, name)
	get := func(t *testing.T, port uint16, path string) string {
		t.Helper()
		var body string
		waitFor(t, "the forwarded web server to answer", 30*time.Second, func() (bool, error) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
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
	forward := func(t *testing.T, websocket bool, ports ...string) (*portforward.PortForwarder, chan struct{}, chan error) {
		t.Helper()
		return forwardPorts(t, cs, name, websocket, ports...)
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
				assert.Equal(t, "hello from "+name+"\n", get(t, ports[0].Local, "/"))
			}
			assert.Equal(t, "peer 127.0.0.1\n", get(t, ports[0].Local, "/cgi-bin/peer"),
				"the server sees the connection come from the pod's loopback")
		})
	}

	t.Run("not reachable from the node", func(t *testing.T) {
		// The test means something only if the server answers on the
		// pod's loopback alone: it does answer (above), so a refusal here
		// is not the server starting late.
		c, err := net.DialTimeout("tcp", net.JoinHostPort(pod.Status.PodIP, "8080"), 10*time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("the pod's server answers on the pod IP %s: it should listen on 127.0.0.1 only", pod.Status.PodIP)
		}
	})

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
				assert.Equal(t, "hello from "+name+"\n", get(t, port, "/"), "stderr: %s", stderr.String())
			})
		}
	})
}
