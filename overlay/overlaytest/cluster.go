package overlaytest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/internal/host"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

// Network is the pod network of the clusters made here.
var Network = netip.MustParsePrefix("10.244.0.0/16")

// ClusterOptions configure NewCluster.
type ClusterOptions struct {
	// Backend is the "Backend" object of the network configuration.
	Backend overlay.BackendConfig
	// NewBackend returns the backend for an agent on h; it is called again
	// for every restart.
	NewBackend func(t testing.TB, h *Host) overlay.Backend
	// Segments gives each host's L2 segment; three hosts on segment 0 if
	// empty.
	Segments []int
	// Store is the shared store; by default a store/memory on a fake clock
	// that the agents share (Cluster.Clock).
	Store store.Store
	// NoIPMasq starts the agents without masquerade rules.
	NoIPMasq bool
	// Prefix is the store prefix of the network; overlay.DefaultPrefix if
	// empty.
	Prefix string
}

// Cluster is a topology with one overlay agent per host.
type Cluster struct {
	t      testing.TB
	opts   ClusterOptions
	Topo   *Topology
	Store  store.Store
	Config *overlay.Config
	// Clock is the fake clock of the memory store and the agents; nil
	// with a store given in ClusterOptions (the real clock then).
	Clock  *clocktesting.FakeClock
	Hosts  []*Host
	Agents []*overlay.Agent // the current agent of each host, nil when stopped
	// Pods holds the pods added by AddPods, one per host.
	Pods []*Pod
	dir  string
	runs []*run
}

type run struct {
	cancel context.CancelFunc
	done   chan error
}

// NewCluster builds the topology and stores the network configuration; it
// starts no agent.
func NewCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if len(opts.Segments) == 0 {
		opts.Segments = []int{0, 0, 0}
	}
	segments := 0
	for _, s := range opts.Segments {
		segments = max(segments, s+1)
	}
	c := &Cluster{t: t, opts: opts, Topo: NewTopology(t, segments), Store: opts.Store, dir: t.TempDir()}
	if c.Store == nil {
		c.Clock = clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		ms := memory.New(memory.Options{Clock: c.Clock})
		t.Cleanup(func() { ms.Close() })
		c.Store = ms
	}
	for _, s := range opts.Segments {
		c.Hosts = append(c.Hosts, c.Topo.AddHost(s))
	}
	c.Agents = make([]*overlay.Agent, len(c.Hosts))
	c.runs = make([]*run, len(c.Hosts))
	cfg := &overlay.Config{Network: Network, SubnetLen: 24, Backend: opts.Backend}
	sm, err := overlay.NewSubnetManager(overlay.SubnetManagerOptions{Store: c.Store, Prefix: opts.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.SetConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if c.Config, err = sm.Config(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Stop the agents before the namespaces go (cleanups run last first).
	t.Cleanup(func() {
		for i := range c.Hosts {
			c.Stop(i)
		}
	})
	return c
}

// AgentOptions returns the options of host i's agent with a new backend.
func (c *Cluster) AgentOptions(i int, ttl time.Duration) overlay.Options {
	h := c.Hosts[i]
	var clk clock.Clock
	if c.Clock != nil {
		clk = c.Clock
	}
	return overlay.Options{
		Store:         c.Store,
		Backend:       c.opts.NewBackend(c.t, h),
		Prefix:        c.opts.Prefix,
		Namespace:     h.NSPath(),
		SubnetFile:    c.SubnetFile(i),
		IPMasq:        !c.opts.NoIPMasq,
		AcceptForward: true,
		LeaseTTL:      ttl,
		Clock:         clk,
		Logger:        slog.New(slog.DiscardHandler),
	}
}

// SubnetFile is the path of host i's subnet.env.
func (c *Cluster) SubnetFile(i int) string {
	return filepath.Join(c.dir, c.Hosts[i].NS, "subnet.env")
}

// Start starts an agent on host i whose lease lives ttl (0: the default)
// and waits until it is ready.
func (c *Cluster) Start(i int, ttl time.Duration) *overlay.Agent {
	c.t.Helper()
	if c.runs[i] != nil {
		c.t.Fatalf("agent on host %d already running", i)
	}
	a, err := overlay.New(c.AgentOptions(i, ttl))
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-r.done:
		cancel()
		c.t.Fatalf("agent on host %d: %v", i, err)
	case <-time.After(30 * time.Second):
		cancel()
		c.t.Fatalf("agent on host %d not ready after 30s", i)
	}
	c.Agents[i], c.runs[i] = a, r
	return a
}

// Stop stops the agent on host i, leaving its data plane, and checks that
// Run returned nil.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	r := c.runs[i]
	if r == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			c.t.Errorf("agent on host %d: %v", i, err)
		}
	case <-time.After(30 * time.Second):
		c.t.Errorf("agent on host %d did not stop", i)
	}
	c.runs[i] = nil
}

// expireDue steps the fake clock by d and returns once the memory store has
// expired the keys due by then: it waits for a probe key that expires last.
func (c *Cluster) expireDue(t testing.TB, d time.Duration) {
	t.Helper()
	probe := "/gov-probe/" + c.Topo.id
	if _, err := c.Store.Create(context.Background(), probe, []byte("x"), store.WriteOptions{TTL: d}); err != nil {
		t.Fatal(err)
	}
	c.Clock.Step(d)
	Eventually(t, converge, func() error {
		if _, err := c.Store.Get(context.Background(), probe); !errors.Is(err, store.ErrNotFound) {
			return errorf("probe key %s not expired yet (%v)", probe, err)
		}
		return nil
	})
}

// addGhost leases a subnet for a peer that does not exist, at an unused
// address on segment 0, with made-up backend data for vxlan.
func (c *Cluster) addGhost(t testing.TB) *overlay.Lease {
	t.Helper()
	attrs := overlay.LeaseAttrs{PublicIP: netip.MustParseAddr("10.99.0.200"), BackendType: c.Config.Backend.Type}
	if attrs.BackendType == overlay.TypeVXLAN {
		vni := c.Config.Backend.VNI
		if vni == 0 {
			vni = 1
		}
		attrs.BackendData = []byte(fmt.Sprintf(`{"VNI":%d,"VtepMAC":"02:00:00:00:00:c8"}`, vni))
	}
	l, err := c.Agents[0].Subnets().Acquire(context.Background(), c.Config, attrs, overlay.AcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// AddPods adds one pod to every host: the second address of its subnet.
func (c *Cluster) AddPods() {
	c.t.Helper()
	for i, h := range c.Hosts {
		a := c.Agents[i]
		gw := overlay.BridgeAddr(a.Subnet())
		c.Pods = append(c.Pods, h.AddPod(overlay.DefaultBridge, gw.Addr().Next(), a.Subnet(), gw.Addr(), a.MTU()))
	}
}

// CheckConnectivity checks that every pod reaches every other one over ICMP
// and TCP, waiting up to timeout for the overlay to converge.
func (c *Cluster) CheckConnectivity(t testing.TB, timeout time.Duration) {
	t.Helper()
	const port = 5201
	for _, p := range c.Pods {
		Listen(t, p.NS, p.Addr, port)
	}
	for _, from := range c.Pods {
		for _, to := range c.Pods {
			if from == to {
				continue
			}
			Eventually(t, timeout, func() error { return Ping(from.NS, to.Addr) })
			Eventually(t, timeout, func() error { return Dial(from.NS, to.Addr, port, 2*time.Second) })
		}
	}
}

// RoutesTo lists the routes to subnet in host h's namespace.
func RoutesTo(h *Host, subnet netip.Prefix) ([]netlink.Route, error) {
	nh, err := host.Open(h.NSPath())
	if err != nil {
		return nil, err
	}
	defer nh.Close()
	return host.RouteList(nh, &netlink.Route{Dst: host.IPNet(subnet)}, netlink.RT_FILTER_DST)
}

// LinkName returns the name of the link with index idx in host h.
func LinkName(h *Host, idx int) string {
	nh, err := host.Open(h.NSPath())
	if err != nil {
		return err.Error()
	}
	defer nh.Close()
	l, err := nh.LinkByIndex(idx)
	if err != nil {
		return err.Error()
	}
	return l.Attrs().Name
}

// CheckClean checks that host h has no trace of the overlay left: no link
// but lo and eth0, no route the overlay owns or into the pod network, no
// masquerade or forwarding chain or jump, no subnet.env.
func (c *Cluster) CheckClean(t testing.TB, i int) {
	t.Helper()
	h := c.Hosts[i]
	nh, err := host.Open(h.NSPath())
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	links, err := host.LinkList(nh)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if n := l.Attrs().Name; n != "lo" && n != Iface {
			t.Errorf("host %s: link %s (%s) left behind", h.NS, n, l.Type())
		}
	}
	routes, err := host.RouteList(nh, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Protocol == host.RouteProtocol {
			t.Errorf("host %s: overlay route %s left behind", h.NS, r)
		}
		if r.Dst != nil {
			if ip, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && Network.Contains(ip) {
				t.Errorf("host %s: route into the pod network left behind: %s", h.NS, r)
			}
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, 7 /* AF_BRIDGE */} {
		neighs, err := host.NeighList(nh, 0, fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range neighs {
			if n.State&netlink.NUD_PERMANENT != 0 && n.LinkIndex != 1 {
				if l, err := nh.LinkByIndex(n.LinkIndex); err == nil && l.Attrs().Name == Iface {
					continue
				}
				t.Errorf("host %s: permanent neighbour/fdb entry left behind: %s", h.NS, n.String())
			}
		}
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("ip", "netns", "exec", h.NS, "iptables", "-w", "-t", table, "-S").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables in %s: %v: %s", h.NS, err, out)
		}
		if strings.Contains(string(out), overlay.DefaultMasqChain) {
			t.Errorf("host %s: %s rules left behind:\n%s", h.NS, table, out)
		}
	}
	if _, err := os.Stat(c.SubnetFile(i)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host %s: subnet.env left behind (%v)", h.NS, err)
	}
}

// MasqRules returns the rules of the masquerade chain in host h.
func MasqRules(h *Host) (string, error) {
	out, err := exec.Command("ip", "netns", "exec", h.NS, "iptables", "-w", "-t", "nat", "-S", overlay.DefaultMasqChain).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("iptables in %s: %v: %s", h.NS, err, out)
	}
	return string(out), nil
}
