package hostgw_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/hostgw"
	"github.com/gantryhq/gantry/overlay/overlaytest"
	"github.com/gantryhq/gantry/store"
)

func TestHostGW(t *testing.T) {
	t.Parallel()
	overlaytest.Suite{
		ClusterOptions: overlaytest.ClusterOptions{
			Backend: overlay.BackendConfig{Type: overlay.TypeHostGW},
			NewBackend: func(t testing.TB, h *overlaytest.Host) overlay.Backend {
				b, err := hostgw.New(hostgw.Options{Namespace: h.NSPath(), PublicIP: h.PublicIP()})
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
		},
		Check: func(t *testing.T, c *overlaytest.Cluster) {
			for i, a := range c.Agents {
				if a.MTU() != 1500 {
					t.Errorf("host %d: MTU %d, want the underlay's 1500", i, a.MTU())
				}
				for j := range c.Agents {
					if i == j {
						continue
					}
					routes, err := overlaytest.RoutesTo(c.Hosts[i], c.Agents[j].Subnet())
					if err != nil {
						t.Fatal(err)
					}
					if len(routes) != 1 {
						t.Fatalf("host %d: routes to host %d: %v", i, j, routes)
					}
					if gw, _ := netip.AddrFromSlice(routes[0].Gw.To4()); gw != c.Hosts[j].PublicIP() {
						t.Errorf("host %d: route to host %d via %s, want %s", i, j, gw, c.Hosts[j].PublicIP())
					}
				}
			}
		},
	}.Run(t)
}

// TestNoIPMasq: without IPMasq the agents install no masquerade rules (and
// removing the rules that are not there is no error), and pods still reach
// each other.
func TestNoIPMasq(t *testing.T) {
	t.Parallel()
	c := overlaytest.NewCluster(t, overlaytest.ClusterOptions{
		Backend:  overlay.BackendConfig{Type: overlay.TypeHostGW},
		Segments: []int{0, 0},
		NoIPMasq: true,
		NewBackend: func(t testing.TB, h *overlaytest.Host) overlay.Backend {
			// No interface or address: the default route's interface.
			b, err := hostgw.New(hostgw.Options{Namespace: h.NSPath()})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	})
	c.Start(0, 0)
	c.Start(1, 0)
	c.AddPods()
	c.CheckConnectivity(t, 20*time.Second)
	for _, h := range c.Hosts {
		if rules, err := overlaytest.MasqRules(h); err == nil {
			t.Errorf("host %s has masquerade rules:\n%s", h.NS, rules)
		}
	}
	env, err := overlay.ReadSubnetEnv(c.SubnetFile(0))
	if err != nil {
		t.Fatal(err)
	}
	if env.IPMasq {
		t.Errorf("subnet.env says FLANNEL_IPMASQ=true")
	}
}

// TestHostGWManyPeers follows a hundred peers that come, change and go.
func TestHostGWManyPeers(t *testing.T) {
	t.Parallel()
	c := overlaytest.NewCluster(t, overlaytest.ClusterOptions{
		Backend:  overlay.BackendConfig{Type: overlay.TypeHostGW},
		Segments: []int{0},
		NewBackend: func(t testing.TB, h *overlaytest.Host) overlay.Backend {
			b, err := hostgw.New(hostgw.Options{Namespace: h.NSPath(), Interface: overlaytest.Iface})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	})
	a := c.Start(0, 0)
	ctx := t.Context()
	sm := a.Subnets()
	const n = 100
	leases := make([]*overlay.Lease, n)
	for i := range leases {
		// Peers on the host's segment, so host-gw can route to them.
		ip := netip.AddrFrom4([4]byte{10, 99, 0, byte(10 + i)})
		l, err := sm.Acquire(ctx, c.Config, overlay.LeaseAttrs{PublicIP: ip, BackendType: overlay.TypeHostGW}, overlay.AcquireOptions{})
		if err != nil {
			t.Fatal(err)
		}
		leases[i] = l
	}
	h := c.Hosts[0]
	gateways := func() (map[netip.Prefix]netip.Addr, error) {
		out := map[netip.Prefix]netip.Addr{}
		for _, l := range leases {
			routes, err := overlaytest.RoutesTo(h, l.Subnet)
			if err != nil {
				return nil, err
			}
			for _, r := range routes {
				gw, _ := netip.AddrFromSlice(r.Gw.To4())
				out[l.Subnet] = gw
			}
		}
		return out, nil
	}
	expect := func(want map[netip.Prefix]netip.Addr) {
		t.Helper()
		overlaytest.Eventually(t, 20*time.Second, func() error {
			got, err := gateways()
			if err != nil {
				return err
			}
			for s, gw := range want {
				if got[s] != gw {
					return fmt.Errorf("route to %s via %v, want %v", s, got[s], gw)
				}
			}
			for s, gw := range got {
				if _, ok := want[s]; !ok {
					return fmt.Errorf("route to %s via %v, want none", s, gw)
				}
			}
			return nil
		})
	}
	want := map[netip.Prefix]netip.Addr{}
	for _, l := range leases {
		want[l.Subnet] = l.Attrs.PublicIP
	}
	expect(want)

	// Half of them go, a tenth move to another address.
	for i, l := range leases {
		switch {
		case i%2 == 0:
			if err := sm.Release(ctx, l); err != nil {
				t.Fatal(err)
			}
			delete(want, l.Subnet)
		case i%10 == 1:
			moved := l.Attrs
			moved.PublicIP = netip.AddrFrom4([4]byte{10, 99, 0, byte(150 + i)})
			_, err := c.Store.Update(ctx, sm.LeaseKey(l.Subnet), mustJSON(t, moved), 0, store.WriteOptions{TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			want[l.Subnet] = moved.PublicIP
		}
	}
	expect(want)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNotOnLink: host-gw cannot reach a peer behind a router, and says so.
func TestNotOnLink(t *testing.T) {
	t.Parallel()
	tp := overlaytest.NewTopology(t, 2)
	h := tp.AddHost(0)
	b, err := hostgw.New(hostgw.Options{Namespace: h.NSPath(), Interface: overlaytest.Iface})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg, err := overlay.ParseConfig([]byte(`{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}`))
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := b.Init(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if attrs.PublicIP != h.PublicIP() || attrs.BackendType != overlay.TypeHostGW {
		t.Errorf("attrs %+v", attrs)
	}
	peer := &overlay.Lease{Subnet: netip.MustParsePrefix("10.244.9.0/24"),
		Attrs: overlay.LeaseAttrs{PublicIP: netip.MustParseAddr("10.99.1.1"), BackendType: overlay.TypeHostGW}}
	if err := b.AddPeer(t.Context(), peer); !errors.Is(err, hostgw.ErrNotOnLink) {
		t.Fatalf("AddPeer of an off-link peer: %v, want ErrNotOnLink", err)
	}
	if err := b.RemovePeer(t.Context(), peer); err != nil {
		t.Errorf("RemovePeer of a peer never added: %v", err)
	}
}
