package runtimetest

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/internal/netnsutil"
	"github.com/gantryhq/gantry/runtime"
)

func testHealth(h *harness) {
	require.NoError(h.t, h.rt.Health(h.ctx))
	v, err := h.rt.Version(h.ctx)
	require.NoError(h.t, err)
	assert.NotEmpty(h.t, v.RuntimeName)
	assert.NotEmpty(h.t, v.RuntimeVersion)
	assert.Equal(h.t, v.RuntimeName+"://"+v.RuntimeVersion, v.String())
}

func testSandboxLifecycle(h *harness) {
	t := h.t
	cfg := h.podConfig()
	id := h.runSandbox(cfg)

	st, err := h.rt.SandboxStatus(h.ctx, id)
	require.NoError(t, err)
	assert.Equal(t, id, st.ID)
	assert.Equal(t, runtime.SandboxReady, st.State)
	assert.Equal(t, cfg.Name, st.Name)
	assert.Equal(t, cfg.Namespace, st.Namespace)
	assert.Equal(t, cfg.UID, st.UID)
	assert.Equal(t, cfg.Hostname, st.Hostname)
	assert.False(t, st.HostNetwork)
	assert.False(t, st.CreatedAt.IsZero(), "CreatedAt")
	assert.Equal(t, cfg.Annotations, st.Annotations)
	assertSandboxLabels(t, cfg, st.Labels)

	// A second sandbox of the same pod and attempt is refused; the next
	// attempt is not.
	_, err = h.rt.RunSandbox(h.ctx, cfg)
	require.ErrorIs(t, err, runtime.ErrAlreadyExists)
	next := cfg
	next.Attempt = 1
	id2 := h.runSandbox(next)
	st2, err := h.rt.SandboxStatus(h.ctx, id2)
	require.NoError(t, err)
	assert.Equal(t, uint32(1), st2.Attempt)
	assert.Equal(t, "1", st2.Labels[runtime.LabelSandboxAttempt])

	list := func(f runtime.SandboxFilter) []string {
		t.Helper()
		sbs, err := h.rt.ListSandboxes(h.ctx, f)
		require.NoError(t, err)
		var ids []string
		for _, sb := range sbs {
			ids = append(ids, sb.ID)
		}
		slices.Sort(ids)
		return ids
	}
	both := []string{id, id2}
	slices.Sort(both)
	byTest := map[string]string{"runtimetest/test": h.id}
	for _, tc := range []struct {
		name   string
		filter runtime.SandboxFilter
		want   []string
	}{
		{"by test label", runtime.SandboxFilter{Labels: byTest}, both},
		{"by ID", runtime.SandboxFilter{ID: id}, []string{id}},
		{"by pod UID label", runtime.SandboxFilter{Labels: map[string]string{runtime.LabelPodUID: cfg.UID, runtime.LabelSandboxAttempt: "1"}}, []string{id2}},
		{"ready", runtime.SandboxFilter{Labels: byTest, State: runtime.SandboxReady}, both},
		{"not ready", runtime.SandboxFilter{Labels: byTest, State: runtime.SandboxNotReady}, nil},
		{"no match", runtime.SandboxFilter{Labels: map[string]string{"runtimetest/test": "absent-" + h.id}}, nil},
	} {
		assert.Equal(t, tc.want, list(tc.filter), tc.name)
	}

	// Stop: not ready, still listed, idempotent.
	require.NoError(t, h.rt.StopSandbox(h.ctx, id))
	require.NoError(t, h.rt.StopSandbox(h.ctx, id))
	st, err = h.rt.SandboxStatus(h.ctx, id)
	require.NoError(t, err)
	assert.Equal(t, runtime.SandboxNotReady, st.State)
	assert.False(t, st.IP.IsValid(), "a stopped sandbox has no IP, has %s", st.IP)
	assert.Empty(t, st.NetNS, "a stopped sandbox has no network namespace")
	assert.Equal(t, []string{id}, list(runtime.SandboxFilter{Labels: byTest, State: runtime.SandboxNotReady}))
	assert.Equal(t, []string{id2}, list(runtime.SandboxFilter{Labels: byTest, State: runtime.SandboxReady}))

	// Remove: gone, idempotent.
	require.NoError(t, h.rt.RemoveSandbox(h.ctx, id))
	require.NoError(t, h.rt.RemoveSandbox(h.ctx, id))
	_, err = h.rt.SandboxStatus(h.ctx, id)
	require.ErrorIs(t, err, runtime.ErrNotFound)
	assert.Equal(t, []string{id2}, list(runtime.SandboxFilter{Labels: byTest}))
	require.NoError(t, h.rt.StopSandbox(h.ctx, id), "stopping a removed sandbox")

	_, err = h.rt.SandboxStatus(h.ctx, "no-such-sandbox-"+h.id)
	require.ErrorIs(t, err, runtime.ErrNotFound)
}

// assertSandboxLabels checks a sandbox's labels: its own and the runtime's.
func assertSandboxLabels(t require.TestingT, cfg runtime.SandboxConfig, labels map[string]string) {
	for k, v := range runtime.SandboxLabels(cfg) {
		assert.Equal(t, v, labels[k], "label %s", k)
	}
	assert.Equal(t, "true", labels[runtime.LabelManaged])
}

func testSandboxInvalid(h *harness) {
	for _, tc := range []struct {
		name   string
		mutate func(*runtime.SandboxConfig)
	}{
		{"no name", func(c *runtime.SandboxConfig) { c.Name = "" }},
		{"no namespace", func(c *runtime.SandboxConfig) { c.Namespace = "" }},
		{"no uid", func(c *runtime.SandboxConfig) { c.UID = "" }},
		{"bad name", func(c *runtime.SandboxConfig) { c.Name = "a b" }},
		{"host network and bridge", func(c *runtime.SandboxConfig) {
			c.Network = runtime.NetworkConfig{HostNetwork: true, Bridge: "b"}
		}},
		{"subnet without bridge", func(c *runtime.SandboxConfig) {
			c.Network = runtime.NetworkConfig{Subnet: netip.MustParsePrefix("10.1.0.0/24")}
		}},
		{"bad port", func(c *runtime.SandboxConfig) {
			c.PortMappings = []runtime.PortMapping{{ContainerPort: 80, HostPort: 70000}}
		}},
		{"bad dns server", func(c *runtime.SandboxConfig) { c.DNS.Servers = []string{"dns.example"} }},
	} {
		cfg := h.podConfig()
		tc.mutate(&cfg)
		id, err := h.rt.RunSandbox(h.ctx, cfg)
		if err == nil {
			h.t.Cleanup(func() { h.removeSandbox(id) })
		}
		assert.ErrorIs(h.t, err, runtime.ErrInvalidArgument, tc.name)
	}
}

func testSandboxBridge(h *harness) {
	t := h.t
	nc := h.cfg.network(t)
	require.True(t, nc.Subnet.IsValid(), "the Network option must give a subnet")

	// Two pods on the node's bridge get distinct IPs from the pod subnet.
	ips := map[netip.Addr]bool{}
	for range 2 {
		cfg := h.podConfig()
		cfg.Network = nc
		id := h.runSandbox(cfg)
		st, err := h.rt.SandboxStatus(h.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, nc.Bridge, st.Network)
		require.True(t, st.IP.IsValid(), "pod has no IP")
		assert.True(t, nc.Subnet.Contains(st.IP), "pod IP %s not in the pod subnet %s", st.IP, nc.Subnet)
		assert.False(t, ips[st.IP], "IP %s given twice", st.IP)
		ips[st.IP] = true
	}

	// The bridge exists now: the same name with another subnet is refused.
	cfg := h.podConfig()
	other := nc.Subnet.Addr().As4()
	other[2]++
	cfg.Network = runtime.NetworkConfig{Bridge: nc.Bridge, Subnet: netip.PrefixFrom(netip.AddrFrom4(other), 24)}
	id, err := h.rt.RunSandbox(h.ctx, cfg)
	if err == nil {
		h.t.Cleanup(func() { h.removeSandbox(id) })
	}
	require.ErrorIs(t, err, runtime.ErrAlreadyExists)
}

func testSandboxHostNetwork(h *harness) {
	cfg := h.podConfig()
	cfg.Network = runtime.NetworkConfig{HostNetwork: true}
	id := h.runSandbox(cfg)
	st, err := h.rt.SandboxStatus(h.ctx, id)
	require.NoError(h.t, err)
	assert.True(h.t, st.HostNetwork)
	assert.Equal(h.t, "host", st.Network)
	assert.False(h.t, st.IP.IsValid(), "host network pods have no pod IP")
	assert.Empty(h.t, st.NetNS, "host network pods have no network namespace of their own")
	assert.Equal(h.t, runtime.SandboxReady, st.State)
}

// testSandboxNetNS checks SandboxStatus.NetNS of ready sandboxes: a
// namespace of its own per pod, which holds the pod's IP; empty for
// runtimes that lack NetNSPath. (Host network and stopped sandboxes have
// none: testSandboxHostNetwork and testSandboxLifecycle.)
func testSandboxNetNS(h *harness) {
	t := h.t
	nc := h.cfg.network(t)
	var sts []runtime.SandboxStatus
	for range 2 {
		cfg := h.podConfig()
		cfg.Network = nc
		id := h.runSandbox(cfg)
		st, err := h.rt.SandboxStatus(h.ctx, id)
		require.NoError(t, err)
		require.Equal(t, runtime.SandboxReady, st.State)
		sts = append(sts, st)
	}
	if reason, ok := h.cfg.lacks[NetNSPath]; ok {
		for _, st := range sts {
			assert.Empty(t, st.NetNS, "a runtime that lacks %q (%s) leaves NetNS empty", NetNSPath, reason)
		}
		return
	}
	host, err := os.Stat("/proc/self/ns/net")
	require.NoError(t, err, "the test's own network namespace")
	var seen []os.FileInfo
	for _, st := range sts {
		require.NotEmpty(t, st.NetNS, "sandbox %s: NetNS", st.ID)
		require.True(t, filepath.IsAbs(st.NetNS), "sandbox %s: NetNS %q is not an absolute path", st.ID, st.NetNS)
		fi, err := os.Stat(st.NetNS)
		if errors.Is(err, fs.ErrPermission) && os.Geteuid() != 0 {
			t.Skipf("sandbox %s: cannot look at NetNS %q without root: %v", st.ID, st.NetNS, err)
		}
		require.NoError(t, err, "sandbox %s: NetNS", st.ID)
		assert.False(t, os.SameFile(host, fi), "sandbox %s: NetNS %q is the node's network namespace", st.ID, st.NetNS)
		for _, other := range seen {
			assert.False(t, os.SameFile(other, fi), "sandbox %s: NetNS %q is another pod's network namespace", st.ID, st.NetNS)
		}
		seen = append(seen, fi)

		// Inside it, the pod's IP is a local address.
		require.True(t, st.IP.IsValid(), "sandbox %s has no IP", st.ID)
		var addrs []net.Addr
		err = netnsutil.Do(st.NetNS, func() error {
			var err error
			addrs, err = net.InterfaceAddrs()
			return err
		})
		if err != nil && os.Geteuid() != 0 {
			t.Skipf("sandbox %s: cannot enter NetNS %q without root: %v", st.ID, st.NetNS, err)
		}
		require.NoError(t, err, "sandbox %s: entering NetNS %q", st.ID, st.NetNS)
		var ips []netip.Addr
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				ips = append(ips, p.Addr())
			}
		}
		assert.Contains(t, ips, st.IP, "sandbox %s: the addresses in NetNS %q", st.ID, st.NetNS)
	}
}

func testRemoveCleansUp(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	running := h.start(sb, sleeper("running"))
	created := h.create(sb, sleeper("created"))
	stopped := h.start(sb, sleeper("stopped"))
	require.NoError(t, h.rt.StopContainer(h.ctx, stopped, 0))

	require.NoError(t, h.rt.RemoveSandbox(h.ctx, sb))
	for _, id := range []string{running, created, stopped} {
		_, err := h.rt.ContainerStatus(h.ctx, id)
		assert.ErrorIs(t, err, runtime.ErrNotFound, "container %s after RemoveSandbox", id)
	}
	ctrs, err := h.rt.ListContainers(h.ctx, runtime.ContainerFilter{SandboxID: sb})
	require.NoError(t, err)
	assert.Empty(t, ctrs)
	sbs, err := h.rt.ListSandboxes(h.ctx, runtime.SandboxFilter{ID: sb})
	require.NoError(t, err)
	assert.Empty(t, sbs)
	_, err = h.rt.CreateContainer(h.ctx, sb, sleeper("late"))
	assert.ErrorIs(t, err, runtime.ErrNotFound, "CreateContainer in a removed sandbox")
}

func testParallelPods(h *harness) {
	h.pullLocal(Busybox)
	const n = 6
	cfgs := make([]runtime.SandboxConfig, n)
	for i := range cfgs {
		cfgs[i] = h.podConfig()
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id, err := h.rt.RunSandbox(h.ctx, cfgs[i])
			if err != nil {
				errs[i] = err
				return
			}
			h.t.Cleanup(func() { h.removeSandbox(id) })
			cid, err := h.rt.CreateContainer(h.ctx, id, sleeper("app"))
			if err == nil {
				err = h.rt.StartContainer(h.ctx, cid)
			}
			if err == nil {
				err = h.rt.RemoveSandbox(h.ctx, id)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	require.NoError(h.t, errors.Join(errs...))
	sbs, err := h.rt.ListSandboxes(h.ctx, runtime.SandboxFilter{Labels: map[string]string{"runtimetest/test": h.id}})
	require.NoError(h.t, err)
	assert.Empty(h.t, sbs)
}
