package vxlan_test

import (
	"net/netip"
	"testing"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/overlaytest"
	"github.com/gantryhq/gantry/overlay/vxlan"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

func newBackend(direct bool) func(testing.TB, *overlaytest.Host) overlay.Backend {
	return func(t testing.TB, h *overlaytest.Host) overlay.Backend {
		b, err := vxlan.New(vxlan.Options{Namespace: h.NSPath(), Interface: overlaytest.Iface, DirectRouting: direct})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func TestVXLAN(t *testing.T) {
	t.Parallel()
	overlaytest.Suite{
		ClusterOptions: overlaytest.ClusterOptions{
			Backend:    overlay.BackendConfig{Type: overlay.TypeVXLAN, VNI: 1},
			NewBackend: newBackend(false),
		},
		Check: func(t *testing.T, c *overlaytest.Cluster) {
			for i, a := range c.Agents {
				if want := 1500 - vxlan.Overhead; a.MTU() != want {
					t.Errorf("host %d: MTU %d, want %d", i, a.MTU(), want)
				}
			}
			checkVia(t, c, 0, 1, "gantry.1")
			checkVia(t, c, 0, 2, "gantry.1")
		},
	}.Run(t)
}

// TestHybrid puts hosts 0 and 1 on one L2 segment and host 2 behind a
// router: 0 and 1 route to each other directly, and tunnel to 2.
func TestHybrid(t *testing.T) {
	t.Parallel()
	overlaytest.Suite{
		ClusterOptions: overlaytest.ClusterOptions{
			Backend:    overlay.BackendConfig{Type: overlay.TypeVXLAN, VNI: 7, Port: 4789, DirectRouting: true, MTU: 1400},
			NewBackend: newBackend(false), // DirectRouting comes from the configuration
			Segments:   []int{0, 0, 1},
		},
		Check: func(t *testing.T, c *overlaytest.Cluster) {
			for i, a := range c.Agents {
				if a.MTU() != 1400 {
					t.Errorf("host %d: MTU %d, want the configured 1400", i, a.MTU())
				}
			}
			checkVia(t, c, 0, 1, overlaytest.Iface)
			checkVia(t, c, 1, 0, overlaytest.Iface)
			checkVia(t, c, 0, 2, "gantry.7")
			checkVia(t, c, 2, 0, "gantry.7")
			checkVia(t, c, 2, 1, "gantry.7")
		},
	}.Run(t)
}

// checkVia checks that host from routes to host to's subnet through the
// device dev.
func checkVia(t *testing.T, c *overlaytest.Cluster, from, to int, dev string) {
	t.Helper()
	subnet := c.Agents[to].Subnet()
	routes, err := overlaytest.RoutesTo(c.Hosts[from], subnet)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 {
		t.Fatalf("host %d: routes to %s: %v", from, subnet, routes)
	}
	if got := overlaytest.LinkName(c.Hosts[from], routes[0].LinkIndex); got != dev {
		t.Errorf("host %d: route to %s goes through %s, want %s", from, subnet, got, dev)
	}
	if dev == overlaytest.Iface {
		if gw, _ := netip.AddrFromSlice(routes[0].Gw.To4()); gw != c.Hosts[to].PublicIP() {
			t.Errorf("host %d: direct route to %s via %s, want %s", from, subnet, gw, c.Hosts[to].PublicIP())
		}
	}
}

// TestVXLANEtcd runs the suite over a real (embedded) etcd, where leases
// are etcd leases; lease expiry is left to the memory store's fake clock.
func TestVXLANEtcd(t *testing.T) {
	t.Parallel()
	overlaytest.RequireRoot(t)
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	s, err := srv.NewStore(etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	overlaytest.Suite{
		ClusterOptions: overlaytest.ClusterOptions{
			Backend:    overlay.BackendConfig{Type: overlay.TypeVXLAN},
			NewBackend: newBackend(false),
			Store:      s,
		},
	}.Run(t)
}
