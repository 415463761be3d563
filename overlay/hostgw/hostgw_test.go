package hostgw_test

import (
	"net/netip"
	"testing"

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
