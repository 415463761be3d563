package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/examples/internal/proctest"
	"github.com/gantryhq/gantry/proxy/proxytest"
)

// lan is the test's underlay: a bridge in the root network namespace that
// the master and etcd listen on, with one veth per node "host".
var lan = struct {
	gateway netip.Addr
	prefix  int
}{netip.MustParseAddr("10.123.0.1"), 24}

// host is a node "host": a network namespace on the lan running its own
// Docker daemon and the node program.
type host struct {
	ns     *proxytest.Netns
	ip     netip.Addr
	docker string // DOCKER_HOST
	name   string // node name
	node   *proctest.Process
}

// TestMultiNode runs a master and two nodes as separate processes, each
// node in its own network namespace with its own Docker daemon, pod subnet
// and service proxy (iptables on one, nftables on the other), joined by the
// vxlan overlay: pods spread over both nodes, a Service answers by cluster
// IP from both nodes (reaching pods on both, across the overlay) and by
// node port on both; a stopped node turns NotReady and its pods are
// recreated on the other.
func TestMultiNode(t *testing.T) {
	requireRootDocker(t)
	var rb [3]byte
	rand.Read(rb[:])
	id := hex.EncodeToString(rb[:])
	nodeBin := proctest.Build(t, "github.com/gantryhq/gantry/examples/node")
	masterBin := proctest.Build(t, "github.com/gantryhq/gantry/examples/master")
	dir := t.TempDir()

	bridge := "gmn" + id
	mustRun(t, "ip", "link", "add", bridge, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", bridge).Run() })
	mustRun(t, "ip", "addr", "add", fmt.Sprintf("%s/%d", lan.gateway, lan.prefix), "dev", bridge)
	mustRun(t, "ip", "link", "set", bridge, "up")
	// Docker's FORWARD policy is DROP, and bridged frames go through it
	// (bridge-nf-call-iptables): let the lan through.
	accept := []string{"FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"}
	mustRun(t, "iptables", append([]string{"-I"}, accept...)...)
	t.Cleanup(func() { exec.Command("iptables", append([]string{"-D"}, accept...)...).Run() })

	etcdURL := startEtcd(t, dir)
	names := []string{"mn1-" + id, "mn2-" + id}
	master, _ := proctest.StartServer(t, masterBin, "--secure-port", "export KUBECONFIG=", 3*time.Minute,
		"--data-dir", filepath.Join(dir, "master"), "--bind-address", lan.gateway.String(),
		"--advertise-address", lan.gateway.String(), "--etcd-servers", etcdURL,
		"--node-names", strings.Join(names, ","),
		"--node-monitor-grace-period", "8s", "--pod-eviction-timeout", "5s",
		// Pods tolerate a lost node for 300 s by default (DefaultTolerationSeconds).
		"--default-not-ready-toleration-seconds", "5", "--default-unreachable-toleration-seconds", "5")
	t.Cleanup(func() {
		master.Signal(syscall.SIGINT)
		master.Wait(time.Minute)
	})
	k := proctest.NewKubectl(t, filepath.Join(dir, "master", "kubeconfig"))

	hosts := make([]*host, 2)
	for i := range hosts {
		h := &host{ns: proxytest.NewNetns(t, fmt.Sprintf("gmn-%s-%d", id, i+1)), ip: netip.AddrFrom4([4]byte{10, 123, 0, byte(11 + i)}), name: names[i]}
		veth := fmt.Sprintf("gmv%s%d", id, i+1)
		mustRun(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns.Name)
		mustRun(t, "ip", "link", "set", veth, "master", bridge, "up")
		mustRun(t, "ip", "-n", h.ns.Name, "addr", "add", fmt.Sprintf("%s/%d", h.ip, lan.prefix), "dev", "eth0")
		mustRun(t, "ip", "-n", h.ns.Name, "link", "set", "eth0", "up")
		mustRun(t, "ip", "-n", h.ns.Name, "route", "add", "default", "via", lan.gateway.String())
		h.docker = startDocker(t, h.ns, fmt.Sprintf("/run/gmn-%s-%d", id, i+1), filepath.Join(dir, fmt.Sprintf("docker%d", i+1)))
		hosts[i] = h
	}
	for i, h := range hosts {
		dataDir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		args := []string{"--net=" + h.ns.Path(), "env", "DOCKER_HOST=" + h.docker, nodeBin,
			"--kubeconfig", filepath.Join(dir, "master", "nodes", h.name+".kubeconfig"),
			"--proxy-kubeconfig", filepath.Join(dir, "master", "kube-proxy.kubeconfig"),
			"--node-name", h.name, "--node-ip", h.ip.String(), "--etcd-servers", etcdURL,
			"--tls-cert-file", filepath.Join(dir, "master", "nodes", h.name+".crt"),
			"--tls-private-key-file", filepath.Join(dir, "master", "nodes", h.name+".key"),
			"--client-ca-file", filepath.Join(dir, "master", "nodes", "ca.crt"),
			"--data-dir", dataDir,
			// One node proxies with iptables, the other with nftables;
			// node ports only on the lan.
			"--proxy-mode", []string{"iptables", "nftables"}[i],
			"--nodeport-addresses", fmt.Sprintf("%s/%d", lan.gateway, lan.prefix)}
		h.node = proctest.Start(t, "nsenter", args...)
		t.Cleanup(func() {
			// The node's rules, routes and devices live in its namespace;
			// --cleanup shows they can be removed (the namespace goes too).
			select {
			case <-h.node.Exited():
			default:
				h.node.Signal(syscall.SIGTERM)
				h.node.Wait(time.Minute)
			}
			out, err := exec.Command("nsenter", "--net="+h.ns.Path(), nodeBin, "--cleanup", "--data-dir", dataDir).CombinedOutput()
			if err != nil {
				t.Errorf("node --cleanup in %s: %v: %s", h.ns.Name, err, out)
			}
		})
	}
	wait := func(what string, timeout time.Duration, cond func() (bool, string)) {
		t.Helper()
		t.Log(what)
		proctest.Eventually(t, timeout, 500*time.Millisecond, cond)
	}
	wait("both nodes Ready", 4*time.Minute, func() (bool, string) {
		out, err := k.Try("get", "nodes", "--no-headers")
		return err == nil && strings.Count(out, " Ready ") == 2, out + hosts[0].node.Stderr() + hosts[1].node.Stderr()
	})

	// A topology spread constraint puts two replicas on each node; with
	// nodeTaintsPolicy Honor a lost node (tainted unreachable) leaves the
	// topology, so the replacements of its pods fit on the other.
	manifest := filepath.Join(dir, "web.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte(webDeployment), 0o644))
	k.Run(t, "apply", "-f", manifest)
	k.Run(t, "rollout", "status", "deployment/web", "--timeout=3m")
	// podNodes counts the running replicas per node, leaving out those
	// being deleted (on a node that is gone they stay Terminating, as in
	// Kubernetes, until the node comes back or is deleted).
	podNodes := func() map[string]int {
		out := k.Run(t, "get", "pods", "-l", "app=web", "--field-selector=status.phase=Running", "-o",
			`jsonpath={range .items[*]}{.spec.nodeName} {.metadata.deletionTimestamp}{"\n"}{end}`)
		m := map[string]int{}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 1 {
				m[f[0]]++
			}
		}
		return m
	}
	spread := podNodes()
	require.Equal(t, map[string]int{names[0]: 2, names[1]: 2}, spread, "pods spread over both nodes")

	// Logs reach the replicas on both nodes: the API server connects to
	// each node agent over TLS with its own certificate and checks the
	// agent's against the cluster CA.
	for _, line := range strings.Split(k.Run(t, "get", "pods", "-l", "app=web", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}`), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			require.Contains(t, k.Run(t, "logs", f[0]), "listening on :8080", "logs of %s on %s", f[0], f[1])
		}
	}

	k.Run(t, "expose", "deployment", "web", "--type=NodePort", "--port=80", "--target-port=8080")
	clusterIP := k.Run(t, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	nodePort := k.Run(t, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}")
	podsOf := map[string]string{} // pod name -> node
	for _, line := range strings.Split(k.Run(t, "get", "pods", "-l", "app=web", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}`), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			podsOf[f[0]] = f[1]
		}
	}
	for _, h := range hosts {
		// From each node, the cluster IP reaches pods on both nodes
		// (across the overlay).
		wait("cluster IP from "+h.name+" reaches pods on both nodes", 2*time.Minute, func() (bool, string) {
			seen := map[string]bool{}
			for range 20 {
				body, err := nsGet(h.ns, "http://"+net.JoinHostPort(clusterIP, "80")+"/")
				if err != nil {
					return false, err.Error()
				}
				seen[podsOf[hostname(body)]] = true
			}
			return len(seen) == 2, fmt.Sprintf("nodes answering: %v", seen)
		})
		// The node port answers on every node's address, from the lan.
		wait("node port on "+h.name, time.Minute, func() (bool, string) {
			body, err := httpGet("http://" + net.JoinHostPort(h.ip.String(), nodePort) + "/")
			return err == nil && strings.Contains(body, "hostname: web-"), fmt.Sprint(body, err)
		})
	}

	// Stop the second node: it turns NotReady and its pods come back on
	// the first.
	hosts[1].node.Signal(syscall.SIGTERM)
	require.Equal(t, 0, hosts[1].node.Wait(time.Minute), "node stopped cleanly; stderr:\n%s", hosts[1].node.Stderr())
	wait(hosts[1].name+" NotReady", 2*time.Minute, func() (bool, string) {
		out, err := k.Try("get", "node", hosts[1].name, "--no-headers")
		return err == nil && strings.Contains(out, "NotReady"), out
	})
	wait("every replica running on "+hosts[0].name, 3*time.Minute, func() (bool, string) {
		m := podNodes()
		return m[hosts[0].name] == 4 && len(m) == 1, fmt.Sprint(m)
	})
	wait("the service answers from the surviving node", time.Minute, func() (bool, string) {
		body, err := nsGet(hosts[0].ns, "http://"+net.JoinHostPort(clusterIP, "80")+"/")
		return err == nil && strings.Contains(body, "hostname: web-"), fmt.Sprint(body, err)
	})
}

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        nodeTaintsPolicy: Honor
        labelSelector:
          matchLabels: {app: web}
      containers:
      - name: echo
        image: gantry.local/echo:1.0
`

func hostname(body string) string {
	for _, line := range strings.Split(body, "\n") {
		if h, ok := strings.CutPrefix(line, "hostname: "); ok {
			return h
		}
	}
	return ""
}

func nsGet(ns *proxytest.Netns, url string) (string, error) {
	return proctest.HTTPGet(url, ns.Dialer())
}

func httpGet(url string) (string, error) { return proctest.HTTPGet(url, nil) }

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// requireRootDocker skips where the test cannot run; the project's test
// command runs as root with Docker installed, so on CI it runs.
func requireRootDocker(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, Docker daemons and iptables (hack/test runs as root)")
	}
	for _, tool := range []string{"dockerd", "docker", "etcd", "nsenter", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (hack/test installs docker.io, etcd-server, iproute2, iptables): %v", tool, err)
		}
	}
}

// startEtcd runs an etcd member listening on the lan and returns its
// client URL; it is stopped when the test ends.
func startEtcd(t *testing.T, dir string) string {
	t.Helper()
	clientURL := fmt.Sprintf("http://%s:%d", lan.gateway, freePortOn(t, lan.gateway))
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", proctest.FreePort(t))
	p := proctest.Start(t, "etcd", "--name", "default", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL)
	t.Cleanup(func() {
		// etcd re-raises the signal after its shutdown: it ends
		// "killed by terminated" even when clean.
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited():
		case <-time.After(30 * time.Second):
			t.Errorf("etcd did not stop")
		}
	})
	proctest.Eventually(t, time.Minute, 200*time.Millisecond, func() (bool, string) {
		body, err := httpGet(clientURL + "/health")
		return err == nil && strings.Contains(body, "true"), fmt.Sprint(body, err, p.Stderr())
	})
	return clientURL
}

func freePortOn(t *testing.T, ip netip.Addr) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDocker runs a Docker daemon inside ns (nsenter keeps the host's
// mounts, which the daemon's cgroups need) with its own state, and returns
// its DOCKER_HOST. When the test ends it removes the daemon's containers and
// stops it.
func startDocker(t *testing.T, ns *proxytest.Netns, execRoot, dataRoot string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(execRoot, 0o700))
	sock := filepath.Join(execRoot, "docker.sock")
	dockerHost := "unix://" + sock
	p := proctest.Start(t, "nsenter", "--net="+ns.Path(), "dockerd",
		"--host", dockerHost, "--data-root", dataRoot, "--exec-root", filepath.Join(execRoot, "exec"),
		"--pidfile", filepath.Join(execRoot, "docker.pid"), "--bridge", "none")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "-H", dockerHost, "ps", "-aq").Output(); err == nil {
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				exec.CommandContext(ctx, "docker", append([]string{"-H", dockerHost, "rm", "-f"}, ids...)...).Run()
			}
		}
		p.Signal(syscall.SIGTERM)
		if code := p.Wait(time.Minute); code != 0 {
			t.Logf("dockerd in %s exited %d", ns.Name, code)
		}
		os.RemoveAll(execRoot)
	})
	proctest.Eventually(t, time.Minute, 250*time.Millisecond, func() (bool, string) {
		out, err := exec.Command("docker", "-H", dockerHost, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		return err == nil, string(out) + p.Stderr()
	})
	return dockerHost
}
