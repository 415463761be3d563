package overlaytest

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gantryhq/gantry/overlay"
)

// converge bounds how long the suite waits for the overlay to follow a
// change.
const converge = 20 * time.Second

// shortTTL is the lease lifetime of the suite's last host, whose lease
// the suite lets expire.
const shortTTL = time.Minute

// Suite is the conformance suite of an overlay backend.
type Suite struct {
	ClusterOptions
	// Check, if set, is called once all pods reach each other, for checks
	// of the backend's own (which routes are direct, which tunnelled ...).
	Check func(t *testing.T, c *Cluster)
	// CheckPeer, if set, checks the backend's state for peer on host
	// from: programmed when present, gone (after the peer's lease expired)
	// when not. It is polled until it returns nil.
	CheckPeer func(c *Cluster, from int, peer *overlay.Lease, present bool) error
}

// Run runs the suite: it starts one agent per host (three hosts on one L2
// segment unless Segments say otherwise) and one pod per host, and checks
//
//   - connectivity: every pod reaches every other one over ICMP and TCP;
//     subnet.env and the masquerade rules are in place;
//   - renewal: a lease is renewed before it expires, and lives on;
//   - lease expiry: when the last host's agent is gone and its lease
//     expires, the other hosts remove its routes;
//   - restart: a restarted agent gets its subnet back, both when its lease
//     expired meanwhile and when it is still there, drops the routes of a
//     peer that left while it was down, and the pods reach each other again;
//   - cleanup: Cleanup leaves no device, route, neighbour or forwarding
//     entry, masquerade rule or subnet.env behind.
//
// Renewal and lease expiry run only on the default memory store with its fake clock.
func (s Suite) Run(t *testing.T) {
	RequireRoot(t)
	c := NewCluster(t, s.ClusterOptions)
	last := len(c.Hosts) - 1
	for i := range c.Hosts {
		ttl := time.Duration(0)
		if i == last {
			ttl = shortTTL
		}
		c.Start(i, ttl)
	}
	subnets := make([]netip.Prefix, len(c.Hosts))
	for i, a := range c.Agents {
		subnets[i] = a.Subnet()
		for j := range i {
			if subnets[j] == subnets[i] {
				t.Fatalf("hosts %d and %d have the same subnet %s", j, i, subnets[i])
			}
		}
	}
	c.AddPods()

	ok := t.Run("connectivity", func(t *testing.T) {
		c.CheckConnectivity(t, converge)
		for i, a := range c.Agents {
			env, err := overlay.ReadSubnetEnv(c.SubnetFile(i))
			if err != nil {
				t.Fatal(err)
			}
			want := overlay.SubnetEnv{Network: Network, Subnet: overlay.BridgeAddr(a.Subnet()), MTU: a.MTU(), IPMasq: true}
			if env != want {
				t.Errorf("host %d: subnet.env %+v, want %+v", i, env, want)
			}
			fwd, err := exec.Command("ip", "netns", "exec", c.Hosts[i].NS, "iptables", "-w", "-S", overlay.DefaultMasqChain+"-FWD").CombinedOutput()
			if err != nil || !strings.Contains(string(fwd), "-d "+Network.String()) {
				t.Errorf("host %d: forwarding chain: %v\n%s", i, err, fwd)
			}
			rules, err := MasqRules(c.Hosts[i])
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"-s " + Network.String() + " -d " + Network.String(),
				"-s " + a.Subnet().String() + " -d 224.0.0.0/4",
				"-j MASQUERADE",
			} {
				if !strings.Contains(rules, want) {
					t.Errorf("host %d: masquerade chain lacks %q:\n%s", i, want, rules)
				}
			}
		}
		if s.Check != nil {
			s.Check(t, c)
		}
		if s.CheckPeer != nil {
			for i := range c.Hosts {
				for j, a := range c.Agents {
					if i != j {
						Eventually(t, converge, func() error { return s.CheckPeer(c, i, a.Lease(), true) })
					}
				}
			}
		}
	})
	if !ok {
		return
	}

	if !t.Run("masquerade", func(t *testing.T) {
		// Leaving the cluster network, pods appear as their host; inside
		// it, as themselves.
		const port = 5301
		ListenWhoAmI(t, c.Topo.Switch, Gateway(0), port)
		for _, p := range c.Pods {
			ListenWhoAmI(t, p.NS, p.Addr, port)
		}
		for i, p := range c.Pods {
			got, err := WhoAmI(p.NS, Gateway(0), port, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Hosts[i].PublicIP() {
				t.Errorf("pod %s reaches the outside as %s, want its host's %s", p.Addr, got, c.Hosts[i].PublicIP())
			}
			peer := c.Pods[(i+1)%len(c.Pods)]
			if got, err = WhoAmI(p.NS, peer.Addr, port, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if got != p.Addr {
				t.Errorf("pod %s reaches pod %s as %s", p.Addr, peer.Addr, got)
			}
		}
	}) {
		return
	}

	if !t.Run("changed lease", func(t *testing.T) {
		// Host 1 loses its whole data plane and comes back: new devices
		// (a new VTEP MAC for vxlan), the same subnet, its lease rewritten;
		// the other hosts follow the change.
		const i = 1
		c.Stop(i)
		before := c.Agents[i].Lease()
		old, err := overlay.New(c.AgentOptions(i, 0))
		if err != nil {
			t.Fatal(err)
		}
		if err := old.Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		a := c.Start(i, 0)
		if a.Subnet() != subnets[i] {
			t.Fatalf("host %d came back with subnet %s, had %s", i, a.Subnet(), subnets[i])
		}
		if a.Lease().Revision == before.Revision {
			t.Errorf("lease of host %d not rewritten", i)
		}
		c.Pods[i].Attach(overlay.DefaultBridge)
		c.CheckConnectivity(t, converge)
	}) {
		return
	}

	if c.Clock != nil && !t.Run("renewal", func(t *testing.T) {
		// The short lease is renewed RenewMargin (half its TTL) before it
		// expires, and outlives its first TTL.
		before := c.Agents[last].Lease()
		c.Clock.Step(shortTTL/2 + time.Second)
		Eventually(t, converge, func() error {
			if l := c.Agents[last].Lease(); l.Revision == before.Revision {
				return errorf("lease %s not renewed", l)
			}
			return nil
		})
		c.expireDue(t, shortTTL/2)
		key := c.Agents[last].Subnets().LeaseKey(subnets[last])
		if _, err := c.Store.Get(context.Background(), key); err != nil {
			t.Fatalf("renewed lease: %v", err)
		}
	}) {
		return
	}

	expired := false
	if c.Clock != nil {
		expired = t.Run("lease expiry", func(t *testing.T) {
			gone := c.Agents[last].Lease()
			c.Stop(last)
			c.Clock.Step(shortTTL + time.Second)
			for i := range last {
				Eventually(t, converge, func() error {
					routes, err := RoutesTo(c.Hosts[i], subnets[last])
					if err == nil && len(routes) > 0 {
						return errorf("host %d still routes to the expired subnet %s: %v", i, subnets[last], routes)
					}
					return err
				})
				if s.CheckPeer != nil {
					Eventually(t, converge, func() error { return s.CheckPeer(c, i, gone, false) })
				}
			}
			if err := Ping(c.Pods[0].NS, c.Pods[last].Addr); err == nil {
				t.Errorf("pod on host %d still reaches the pod of the expired lease", 0)
			}
		})
		if !expired {
			return
		}
	}

	if !t.Run("restart", func(t *testing.T) {
		if expired {
			// Its lease is gone: subnet.env brings the same subnet back.
			if a := c.Start(last, shortTTL); a.Subnet() != subnets[last] {
				t.Fatalf("host %d came back with subnet %s, had %s", last, a.Subnet(), subnets[last])
			}
		}
		// A peer that host 0 routes to leaves while host 0 is down.
		ghost := c.addGhost(t)
		Eventually(t, converge, func() error {
			if routes, err := RoutesTo(c.Hosts[0], ghost.Subnet); err != nil || len(routes) == 0 {
				return errorf("host 0 has no route to the peer %s (%v)", ghost, err)
			}
			return nil
		})
		c.Stop(0)
		if err := c.Agents[0].Subnets().Release(context.Background(), ghost); err != nil {
			t.Fatal(err)
		}

		// Its lease is alive: same PublicIP, same subnet.
		if a := c.Start(0, 0); a.Subnet() != subnets[0] {
			t.Fatalf("host 0 came back with subnet %s, had %s", a.Subnet(), subnets[0])
		}
		Eventually(t, converge, func() error {
			if routes, err := RoutesTo(c.Hosts[0], ghost.Subnet); err != nil || len(routes) > 0 {
				return errorf("host 0 still routes to the departed peer %s: %v (%v)", ghost, routes, err)
			}
			return nil
		})
		c.CheckConnectivity(t, converge)
	}) {
		return
	}

	t.Run("cleanup", func(t *testing.T) {
		for _, p := range c.Pods {
			p.Delete()
		}
		for i := range c.Hosts {
			c.Stop(i)
			a, err := overlay.New(c.AgentOptions(i, 0))
			if err != nil {
				t.Fatal(err)
			}
			// A fresh agent, as after a crash: it finds what to remove.
			if err := a.Cleanup(context.Background()); err != nil {
				t.Fatal(err)
			}
			c.CheckClean(t, i)
		}
	})
}
