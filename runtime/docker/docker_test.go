package docker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/docker"
	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

// fixture is a docker runtime with the test images and helpers that clean up.
type fixture struct {
	t   *testing.T
	ctx context.Context
	cli *client.Client
	rt  *docker.Runtime
	id  string
}

func newFixture(t *testing.T, opts docker.Options) *fixture {
	t.Helper()
	cli := runtimetest.DockerClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	runtimetest.EnsureImages(ctx, t, cli)
	return &fixture{t: t, ctx: ctx, cli: cli, rt: newRuntime(t, cli, opts), id: strings.ToLower(rand.Text()[:10])}
}

// sandbox runs a sandbox, removed when the test ends.
func (f *fixture) sandbox(rt *docker.Runtime, cfg runtime.SandboxConfig) string {
	f.t.Helper()
	id, err := rt.RunSandbox(f.ctx, cfg)
	require.NoError(f.t, err)
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.RemoveSandbox(ctx, id); err != nil {
			f.t.Errorf("cleanup: %v", err)
		}
	})
	return id
}

func (f *fixture) pod(name string) runtime.SandboxConfig {
	return runtime.SandboxConfig{Name: name + "-" + f.id, Namespace: "dockertest", UID: "uid-" + name + "-" + f.id}
}

func (f *fixture) start(sb string, cfg runtime.ContainerConfig) string {
	f.t.Helper()
	id, err := f.rt.CreateContainer(f.ctx, sb, cfg)
	require.NoError(f.t, err)
	require.NoError(f.t, f.rt.StartContainer(f.ctx, id))
	return id
}

func (f *fixture) inspect(id string) container.InspectResponse {
	f.t.Helper()
	res, err := f.cli.ContainerInspect(f.ctx, id, client.ContainerInspectOptions{})
	require.NoError(f.t, err)
	return res.Container
}

func (f *fixture) exec(id string, cmd ...string) (int, string) {
	f.t.Helper()
	var out bytes.Buffer
	code, err := f.rt.Exec(f.ctx, id, runtime.ExecOptions{Cmd: cmd, Stdout: &out, Stderr: &out})
	require.NoError(f.t, err)
	return code, out.String()
}

// What the runtime asked for is what Docker runs: limits, namespaces,
// mounts, labels, DNS - as docker inspect shows them.
func TestInspect(t *testing.T) {
	f := newFixture(t, docker.Options{})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("from the host\n"), 0o644))

	pod := f.pod("inspect")
	pod.Hostname = "inspected"
	pod.Annotations = map[string]string{"example.com/a": "1"}
	pod.DNS = runtime.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"dockertest.svc.cluster.local"}, Options: []string{"ndots:5"}}
	sb := f.sandbox(f.rt, pod)
	cfg := runtime.ContainerConfig{
		Name: "app", Attempt: 2, Image: images.Busybox,
		Command: []string{"sleep"}, Args: []string{"3600"},
		Env:        []runtime.EnvVar{{Name: "GREETING", Value: "hi"}},
		WorkingDir: "/tmp",
		Mounts:     []runtime.Mount{{HostPath: dir, ContainerPath: "/data", ReadOnly: true}},
		Resources:  runtime.Resources{CPUShares: 256, CPUQuota: 25000, MemoryLimit: 32 << 20},
		Labels:     map[string]string{"app": "inspect"},
	}
	id := f.start(sb, cfg)
	// Privileged is only created: some hosts (nested, capability-restricted)
	// cannot start privileged containers.
	priv, err := f.rt.CreateContainer(f.ctx, sb, runtime.ContainerConfig{Name: "priv", Image: images.Busybox, Privileged: true})
	require.NoError(t, err)
	assert.True(t, f.inspect(priv).HostConfig.Privileged, "privileged")
	assert.False(t, f.inspect(id).HostConfig.Privileged, "not privileged")

	app := f.inspect(id)
	hc := app.HostConfig
	assert.Equal(t, int64(32<<20), hc.Memory, "memory limit")
	assert.Equal(t, int64(256), hc.CPUShares, "cpu shares")
	assert.Equal(t, int64(25000), hc.CPUQuota, "cpu quota")
	assert.Equal(t, int64(100000), hc.CPUPeriod, "cpu period defaults to 100ms with a quota")
	assert.Equal(t, "container:"+sb, string(hc.NetworkMode))
	assert.Equal(t, "container:"+sb, string(hc.IpcMode))
	assert.Equal(t, []string{"sleep"}, []string(app.Config.Entrypoint))
	assert.Equal(t, []string{"3600"}, []string(app.Config.Cmd))
	assert.Contains(t, app.Config.Env, "GREETING=hi")
	assert.Equal(t, "/tmp", app.Config.WorkingDir)
	require.Len(t, app.Mounts, 1)
	assert.Equal(t, "/data", app.Mounts[0].Destination)
	assert.False(t, app.Mounts[0].RW, "read-only mount")
	for k, v := range map[string]string{
		runtime.LabelManaged: "true", runtime.LabelKind: "container", runtime.LabelPodUID: pod.UID,
		runtime.LabelPodName: pod.Name, runtime.LabelPodNamespace: pod.Namespace, runtime.LabelContainerName: "app",
		runtime.LabelRestartCount: "2", runtime.LabelSandboxID: sb, "app": "inspect",
	} {
		assert.Equal(t, v, app.Config.Labels[k], "app label %s", k)
	}

	pause := f.inspect(sb)
	assert.Equal(t, images.Pause, pause.Config.Image)
	assert.Equal(t, "shareable", string(pause.HostConfig.IpcMode))
	assert.Equal(t, "inspected", pause.Config.Hostname)
	for k, v := range map[string]string{
		runtime.LabelManaged: "true", runtime.LabelKind: "sandbox", runtime.LabelPodUID: pod.UID,
		runtime.LabelPodName: pod.Name, runtime.LabelPodNamespace: pod.Namespace,
	} {
		assert.Equal(t, v, pause.Config.Labels[k], "pause label %s", k)
	}
	st, err := f.rt.SandboxStatus(f.ctx, sb)
	require.NoError(t, err)
	assert.Equal(t, pod.Annotations, st.Annotations)
	for k := range st.Labels {
		assert.False(t, strings.HasPrefix(k, "docker.gantry.io/"), "internal label %s shown", k)
	}

	// Inside: the mount is read-only, the pod's hostname and DNS apply.
	code, out := f.exec(id, "cat", "/data/hello.txt")
	assert.Equal(t, 0, code)
	assert.Equal(t, "from the host\n", out)
	code, out = f.exec(id, "sh", "-c", "echo x > /data/new")
	assert.NotEqual(t, 0, code, "writing to a read-only mount: %s", out)
	_, out = f.exec(id, "hostname")
	assert.Equal(t, "inspected\n", out)
	_, out = f.exec(id, "cat", "/etc/resolv.conf")
	assert.Contains(t, out, "nameserver 10.96.0.10")
	assert.Contains(t, out, "search dockertest.svc.cluster.local")
	assert.Contains(t, out, "ndots:5")
	_, out = f.exec(id, "sh", "-c", "echo $GREETING; pwd")
	assert.Equal(t, "hi\n/tmp\n", out)
}

// A pod on the node's bridge network is reachable from the node at its pod
// IP, and through its host port.
func TestPodIPAndHostPort(t *testing.T) {
	f := newFixture(t, docker.Options{})
	nc := testNetwork(t, f.cli)
	hostPort := freePort(t)
	pod := f.pod("web")
	pod.Hostname = "web"
	pod.Network = nc
	pod.PortMappings = []runtime.PortMapping{{ContainerPort: 8080, HostPort: int32(hostPort), HostIP: "127.0.0.1"}}
	sb := f.sandbox(f.rt, pod)
	f.start(sb, runtime.ContainerConfig{Name: "echo", Image: images.Echo})

	st, err := f.rt.SandboxStatus(f.ctx, sb)
	require.NoError(t, err)
	require.True(t, nc.Subnet.Contains(st.IP), "pod IP %s in %s", st.IP, nc.Subnet)
	_, err = os.Stat("/sys/class/net/" + nc.Bridge)
	assert.NoError(t, err, "the Linux bridge is named after the network")
	netw, err := f.cli.NetworkInspect(f.ctx, nc.Bridge, client.NetworkInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "true", netw.Network.Labels[runtime.LabelManaged], "network label")

	for _, url := range []string{
		"http://" + net.JoinHostPort(st.IP.String(), "8080") + "/via-pod-ip",
		"http://127.0.0.1:" + strconv.Itoa(hostPort) + "/via-host-port",
	} {
		body := httpGet(t, url)
		assert.Contains(t, body, "hostname: web\n", url)
		assert.Contains(t, body, "path: /"+url[strings.LastIndex(url, "/")+1:]+"\n", url)
	}
}

// freePort returns a TCP port free on 127.0.0.1 right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGet polls url until it answers 200 (the server may still be starting)
// and returns the body.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := c.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %d, %v", resp.StatusCode, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		<-tick.C
	}
}

// A node agent that restarts finds its pods by label with a fresh runtime,
// and runtimes of different node names do not see each other's.
func TestAdoptAfterRestart(t *testing.T) {
	f := newFixture(t, docker.Options{})
	node := "node-" + f.id
	before := newRuntime(t, f.cli, docker.Options{NodeName: node})
	pod := f.pod("adopt")
	pod.Labels = map[string]string{"app": "adopt"}
	sb := f.sandbox(before, pod)
	cid, err := before.CreateContainer(f.ctx, sb, runtime.ContainerConfig{Name: "app", Attempt: 4, Image: images.Busybox, Command: []string{"sleep", "3600"}})
	require.NoError(t, err)
	require.NoError(t, before.StartContainer(f.ctx, cid))
	require.NoError(t, before.Close())

	after := newRuntime(t, f.cli, docker.Options{NodeName: node})
	sbs, err := after.ListSandboxes(f.ctx, runtime.SandboxFilter{Labels: map[string]string{runtime.LabelPodUID: pod.UID}})
	require.NoError(t, err)
	require.Len(t, sbs, 1)
	assert.Equal(t, sb, sbs[0].ID)
	assert.Equal(t, pod.Name, sbs[0].Name)
	assert.Equal(t, runtime.SandboxReady, sbs[0].State)
	assert.Equal(t, node, sbs[0].Labels[runtime.LabelNode])
	ctrs, err := after.ListContainers(f.ctx, runtime.ContainerFilter{Labels: map[string]string{runtime.LabelPodUID: pod.UID}})
	require.NoError(t, err)
	require.Len(t, ctrs, 1)
	assert.Equal(t, cid, ctrs[0].ID)
	assert.Equal(t, uint32(4), ctrs[0].Attempt)
	assert.Equal(t, runtime.ContainerRunning, ctrs[0].State)
	assert.Equal(t, images.Busybox, ctrs[0].Image)
	// It can run more containers in the adopted sandbox (no cached state).
	id2, err := after.CreateContainer(f.ctx, sb, runtime.ContainerConfig{Name: "second", Image: images.Busybox, Command: []string{"sleep", "3600"}})
	require.NoError(t, err)
	require.NoError(t, after.StartContainer(f.ctx, id2))

	other := newRuntime(t, f.cli, docker.Options{NodeName: "other-" + f.id})
	sbs, err = other.ListSandboxes(f.ctx, runtime.SandboxFilter{Labels: map[string]string{runtime.LabelPodUID: pod.UID}})
	require.NoError(t, err)
	assert.Empty(t, sbs, "another node's runtime sees the pod")
	_, err = other.SandboxStatus(f.ctx, sb)
	assert.ErrorIs(t, err, runtime.ErrNotFound)
	_, err = other.CreateContainer(f.ctx, sb, runtime.ContainerConfig{Name: "x", Image: images.Busybox})
	assert.ErrorIs(t, err, runtime.ErrNotFound)

	require.NoError(t, after.RemoveSandbox(f.ctx, sb))
	_, err = f.cli.ContainerInspect(f.ctx, id2, client.ContainerInspectOptions{})
	assert.Error(t, err, "removed with its sandbox")
}

func TestPauseImageMissing(t *testing.T) {
	f := newFixture(t, docker.Options{})
	rt := newRuntime(t, f.cli, docker.Options{PauseImage: "gantry.invalid/pause:" + f.id})
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	_, err := rt.RunSandbox(ctx, f.pod("nopause"))
	require.ErrorIs(t, err, runtime.ErrImagePull)
	assert.Contains(t, err.Error(), "gantry.invalid/pause")
}

func TestDaemonUnavailable(t *testing.T) {
	cli, err := client.New(client.WithHost("unix://" + filepath.Join(t.TempDir(), "no-docker.sock")))
	require.NoError(t, err)
	defer cli.Close()
	rt, err := docker.New(docker.Options{Client: cli})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	assert.ErrorIs(t, rt.Health(ctx), runtime.ErrUnavailable)
	_, err = rt.ListSandboxes(ctx, runtime.SandboxFilter{})
	assert.ErrorIs(t, err, runtime.ErrUnavailable)
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts docker.Options
		ok   bool
	}{
		{"zero", docker.Options{}, true},
		{"node name", docker.Options{NodeName: "node-1"}, true},
		{"bad node name", docker.Options{NodeName: "node 1"}, false},
		{"host as default network", docker.Options{DefaultNetwork: "host"}, false},
	} {
		rt, err := docker.New(tc.opts)
		if tc.ok {
			require.NoError(t, err, tc.name)
			require.NoError(t, rt.Close())
		} else {
			require.ErrorIs(t, err, runtime.ErrInvalidArgument, tc.name)
		}
	}
}

// A pod start costs the Docker API calls of the two containers and nothing
// more (no inspects, no network lookups once the network is known): the
// runtime's overhead over bare Docker, which BenchmarkPodStart measures,
// stays near zero.
func TestPodStartAPICalls(t *testing.T) {
	f := newFixture(t, docker.Options{})
	var mu sync.Mutex
	var calls []string
	cli, err := client.New(client.FromEnv, client.WithHTTPRequestHook(func(r *http.Request) error {
		mu.Lock()
		defer mu.Unlock()
		p := r.URL.Path
		if i := strings.Index(p[1:], "/"); strings.HasPrefix(p, "/v") && i > 0 {
			p = p[i+1:] // drop the API version
		}
		calls = append(calls, r.Method+" "+p)
		return nil
	}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	rt := newRuntime(t, cli, docker.Options{})
	nc := testNetwork(t, f.cli)
	startPod := func(name string) (string, string) {
		pod := f.pod(name)
		pod.Network = nc
		sb := f.sandbox(rt, pod)
		id, err := rt.CreateContainer(f.ctx, sb, runtime.ContainerConfig{Name: "app", Image: images.Busybox, Command: []string{"sleep", "3600"}})
		require.NoError(t, err)
		require.NoError(t, rt.StartContainer(f.ctx, id))
		return sb, id
	}
	startPod("warm") // negotiates the API version, creates the network

	mu.Lock()
	calls = nil
	mu.Unlock()
	sb, id := startPod("counted")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"POST /containers/create", "POST /containers/" + sb + "/start",
		"POST /containers/create", "POST /containers/" + id + "/start",
	}, calls)
}
