package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/examples/internal/proctest"
)

// TestWalkthrough is the README's walkthrough, scripted with the real
// kubectl against the all-in-one on Docker, started with the README's run
// command (hack/run): healthy components and a Ready
// node, a deployment of the local echo image exposed on a node port and
// reached with HTTP, its cluster IP reached from another pod, scale,
// logs, exec, cordon, drain, and delete.
func TestWalkthrough(t *testing.T) {
	requireDockerAndRoot(t)
	bin := proctest.Build(t, "github.com/gantryhq/gantry/examples/allinone")
	dataDir := t.TempDir()
	k := proctest.NewKubectl(t, dataDir+"/kubeconfig")
	var b [3]byte
	rand.Read(b[:])
	nodeName := "walk-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { removeContainers(t, nodeName) })
	t.Cleanup(func() {
		// The proxy's rules outlive the process by design; remove them.
		if out, err := exec.Command(bin, "--cleanup", "--data-dir", dataDir).CombinedOutput(); err != nil {
			t.Errorf("allinone --cleanup: %v: %s", err, out)
		}
		if out, err := exec.Command("ip", "link", "show", "gantry0").CombinedOutput(); err == nil {
			t.Errorf("the pod bridge is left after --cleanup:\n%s", out)
		}
		for _, table := range []string{"nat", "filter"} {
			out, _ := exec.Command("iptables-save", "-t", table).CombinedOutput()
			if s := string(out); strings.Contains(s, "KUBE-") || strings.Contains(s, "GANTRY-") {
				t.Errorf("rules left in %s after --cleanup:\n%s", table, s)
			}
		}
	})
	// The cluster starts with the README's run command, as a new user types
	// it (hack/run installs what is missing, starts dockerd and runs the
	// all-in-one), but with this test's data dir and free ports.
	args := readmeRunCommand(t)
	require.Equal(t, []string{"./hack/run", "--data-dir", "/tmp/gantry"}, args, "the README's run command changed: update this test")
	proxyPort := strconv.Itoa(proctest.FreePort(t))
	p := proctest.StartGroup(t, "../..", args[0], "--data-dir", dataDir,
		"--secure-port", strconv.Itoa(proctest.FreePort(t)), "--node-name", nodeName, "--node-agent-port", "0",
		"--proxy-health-port", proxyPort)
	t.Cleanup(func() {
		p.Signal(syscall.SIGINT)
		p.Wait(time.Minute)
	})
	p.WaitOutput(ready, 5*time.Minute)
	require.Contains(t, p.Stdout(), "iptables: cluster IPs and node ports answer")
	require.Contains(t, p.Stdout(), "vxlan over network 10.244.0.0/16")
	wait := func(what string, cond func() (bool, string)) {
		t.Helper()
		t.Log(what)
		proctest.Eventually(t, 3*time.Minute, 250*time.Millisecond, cond)
	}

	wait("components healthy", func() (bool, string) {
		out, err := k.Try("get", "cs")
		return err == nil && strings.Count(out, "Healthy") >= 3, out
	})
	wait("node Ready", func() (bool, string) {
		out, err := k.Try("get", "nodes")
		return err == nil && strings.Contains(out, nodeName) && strings.Contains(out, " Ready"), out
	})

	k.Run(t, "create", "deployment", "web", "--image=gantry.local/echo:1.0", "--replicas=2")
	k.Run(t, "rollout", "status", "deployment/web", "--timeout=3m")
	// The pods' addresses come from the node's overlay subnet.
	for _, ip := range strings.Fields(k.Run(t, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.podIP}")) {
		require.True(t, strings.HasPrefix(ip, "10.244."), "pod IP %s outside the overlay network 10.244.0.0/16", ip)
	}
	k.Run(t, "expose", "deployment", "web", "--type=NodePort", "--port=80", "--target-port=8080")
	nodePort := k.Run(t, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
	clusterIP := k.Run(t, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	nodeIP := k.Run(t, "get", "node", nodeName, "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`)

	hosts := map[string]bool{}
	wait("both replicas answer on the node port", func() (bool, string) {
		body, err := httpGet("http://" + net.JoinHostPort(nodeIP, nodePort) + "/")
		if err != nil {
			return false, err.Error()
		}
		for _, line := range strings.Split(body, "\n") {
			if h, ok := strings.CutPrefix(line, "hostname: "); ok {
				hosts[h] = true
			}
		}
		return len(hosts) == 2, fmt.Sprintf("hosts seen %v; last answer:\n%s", hosts, body)
	})
	body, err := httpGet("http://" + net.JoinHostPort(clusterIP, "80") + "/")
	require.NoError(t, err, "the cluster IP from the host")
	require.Contains(t, body, "hostname: web-")
	body, err = httpGet("http://" + net.JoinHostPort(nodeIP, proxyPort) + "/healthz")
	require.NoError(t, err, "the proxy's health")
	body, err = httpGet("http://" + net.JoinHostPort(nodeIP, proxyPort) + "/metrics")
	require.NoError(t, err, "the proxy's metrics")
	require.Regexp(t, `proxy_service_ports [1-9]`, body)
	body, err = httpGet("http://" + net.JoinHostPort(clusterIP, "80") + "/")
	require.NoError(t, err)
	require.Contains(t, body, "hostname: web-")

	// A pod reaches the service's cluster IP (through the proxy's rules,
	// across Docker's bridge).
	k.Run(t, "run", "client", "--image=gantry.local/busybox:1.0", "--", "sleep", "3600")
	k.Run(t, "wait", "--for=condition=Ready", "pod/client", "--timeout=2m")
	out := k.Run(t, "exec", "client", "--", "wget", "-qO-", "http://"+clusterIP+"/")
	require.Contains(t, out, "hostname: web-")

	// The pod has its service account's credentials: a token (from the
	// TokenRequest API, bound to the pod), the cluster CA and its
	// namespace; the token authenticates as the account.
	const creds = "/var/run/secrets/kubernetes.io/serviceaccount/"
	require.Equal(t, "default", k.Run(t, "exec", "client", "--", "cat", creds+"namespace"))
	require.Contains(t, k.Run(t, "exec", "client", "--", "cat", creds+"ca.crt"), "BEGIN CERTIFICATE")
	token := k.Run(t, "exec", "client", "--", "cat", creds+"token")
	require.Equal(t, "system:serviceaccount:default:default", whoami(t, dataDir+"/kubeconfig", token))

	k.Run(t, "scale", "deployment", "web", "--replicas=3")
	k.Run(t, "rollout", "status", "deployment/web", "--timeout=3m")
	wait("three endpoints", func() (bool, string) {
		out, err := k.Try("get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}")
		return err == nil && len(strings.Fields(out)) == 3, out
	})
	require.Contains(t, k.Run(t, "logs", "deployment/web"), "listening on :8080", "logs of a replica")
	require.Equal(t, "hello", strings.TrimSpace(k.Run(t, "exec", "client", "--", "echo", "hello")))

	// Logs and exec went through the node agent's HTTPS API, which takes
	// the API server's client certificate; asked directly, it refuses a
	// request without credentials and serves the administrator.
	agentURL := "https://" + net.JoinHostPort(nodeIP, k.Run(t, "get", "node", nodeName, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}")) + "/pods"
	code, body := agentGet(t, dataDir+"/kubeconfig", nodeName, agentURL, false)
	require.Equal(t, http.StatusUnauthorized, code, "no credentials: %s", body)
	require.Contains(t, body, `"reason":"Unauthorized"`)
	code, body = agentGet(t, dataDir+"/kubeconfig", nodeName, agentURL, true)
	require.Equal(t, http.StatusOK, code, "the administrator's certificate: %s", body)
	require.Contains(t, body, `"name":"client"`)

	k.Run(t, "cordon", nodeName)
	require.Contains(t, k.Run(t, "get", "node", nodeName), "SchedulingDisabled")
	k.Run(t, "drain", nodeName, "--ignore-daemonsets", "--force", "--grace-period=1", "--timeout=2m")
	wait("replicas Pending on the drained node", func() (bool, string) {
		out, err := k.Try("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].status.phase}")
		return err == nil && out != "" && !strings.Contains(out, "Running"), out
	})
	k.Run(t, "uncordon", nodeName)
	k.Run(t, "rollout", "status", "deployment/web", "--timeout=3m")

	k.Run(t, "delete", "service", "web")
	k.Run(t, "delete", "deployment", "web")
	wait("the replicas gone", func() (bool, string) {
		out, err := k.Try("get", "pods", "-l", "app=web", "-o", "name")
		return err == nil && out == "", out
	})
	_, err = httpGet("http://" + net.JoinHostPort(clusterIP, "80") + "/")
	require.Error(t, err, "a deleted service does not answer")
}

// readmeRunCommand returns the run command of the README's "two commands".
func readmeRunCommand(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "./hack/run ") {
			return strings.Fields(line)
		}
	}
	t.Fatal("no ./hack/run line in README.md")
	return nil
}

func httpGet(url string) (string, error) { return proctest.HTTPGet(url, nil) }

// requireDockerAndRoot skips where the walkthrough cannot run; the
// project's test command runs as root and starts dockerd, so on CI it runs.
func requireDockerAndRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the service proxy writes iptables rules (hack/test runs as root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		t.Fatalf("no Docker daemon (hack/test starts one): %v: %s", err, out)
	}
}

// removeContainers removes what the node left in Docker, also when the
// test failed half-way.
func removeContainers(t *testing.T, nodeName string) {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=gantry.io/node="+nodeName).Output()
	if err != nil {
		t.Errorf("docker ps: %v", err)
		return
	}
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		if out, err := exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
			t.Errorf("docker rm: %v: %s", err, out)
		}
	}
}

// agentGet asks a node agent's API directly for url, checking its serving
// certificate against the cluster CA of the kubeconfig for the node's
// name, with the kubeconfig's client certificate when withCert.
func agentGet(t *testing.T, kubeconfig, nodeName, url string, withCert bool) (int, string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	if !withCert {
		cfg.TLSClientConfig = rest.TLSClientConfig{CAFile: cfg.CAFile, CAData: cfg.CAData}
	}
	tc, err := rest.TLSConfigFor(cfg)
	require.NoError(t, err)
	tc.ServerName = nodeName
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// whoami returns the user a bearer token authenticates as, asking the API
// server of kubeconfig (SelfSubjectReview) without the kubeconfig's own
// credentials.
func whoami(t *testing.T, kubeconfig, token string) string {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	cfg.TLSClientConfig = rest.TLSClientConfig{CAFile: cfg.CAFile, CAData: cfg.CAData}
	cfg.BearerToken = token
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	return r.Status.UserInfo.Username
}
