package hostgw_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/hostgw"
	"github.com/gantryhq/gantry/overlay/overlaytest"
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
