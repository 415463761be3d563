package vxlan_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

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
			checkDevice(t, c, "gantry.1", 1, vxlan.DefaultPort)
		},
		CheckPeer: checkTunnel("gantry.1"),
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
			checkDevice(t, c, "gantry.7", 7, 4789)
		},
		CheckPeer: func(c *overlaytest.Cluster, from int, peer *overlay.Lease, present bool) error {
			if from == 2 || peer.Attrs.PublicIP == c.Hosts[2].PublicIP() {
				return checkTunnel("gantry.7")(c, from, peer, present)
			}
			return nil // direct: no tunnel state
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

// checkDevice checks the VXLAN device on every host: VNI, port, local
// address and underlay, learning off, MTU, address.
func checkDevice(t *testing.T, c *overlaytest.Cluster, name string, vni, port int) {
	t.Helper()
	for i, h := range c.Hosts {
		nh, err := netlink.NewHandleAt(mustNS(t, h))
		if err != nil {
			t.Fatal(err)
		}
		defer nh.Close()
		link, err := nh.LinkByName(name)
		if err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
		v, ok := link.(*netlink.Vxlan)
		if !ok {
			t.Fatalf("host %d: %s is a %s", i, name, link.Type())
		}
		eth, err := nh.LinkByName(overlaytest.Iface)
		if err != nil {
			t.Fatal(err)
		}
		src, _ := netip.AddrFromSlice(v.SrcAddr.To4())
		if v.VxlanId != vni || v.Port != port || v.Learning || v.VtepDevIndex != eth.Attrs().Index || src != h.PublicIP() {
			t.Errorf("host %d: device %s: VNI %d port %d learning %v dev %d local %s; want %d %d false %d %s",
				i, name, v.VxlanId, v.Port, v.Learning, v.VtepDevIndex, src, vni, port, eth.Attrs().Index, h.PublicIP())
		}
		if v.MTU != c.Agents[i].MTU() {
			t.Errorf("host %d: device MTU %d, agent says %d", i, v.MTU, c.Agents[i].MTU())
		}
		addrs, err := nh.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		want := netip.PrefixFrom(c.Agents[i].Subnet().Addr(), 32).String()
		if len(addrs) != 1 || addrs[0].IPNet.String() != want {
			t.Errorf("host %d: device addresses %v, want %s", i, addrs, want)
		}
	}
}

// checkTunnel returns a Suite.CheckPeer for peers behind the device dev:
// the permanent neighbour entry (peer gateway -> VTEP MAC), the fdb entry
// (VTEP MAC -> public IP) and the onlink route.
func checkTunnel(dev string) func(*overlaytest.Cluster, int, *overlay.Lease, bool) error {
	return func(c *overlaytest.Cluster, from int, peer *overlay.Lease, present bool) error {
		var data vxlan.BackendData
		if err := json.Unmarshal(peer.Attrs.BackendData, &data); err != nil {
			return err
		}
		ns, err := netns.GetFromName(c.Hosts[from].NS)
		if err != nil {
			return err
		}
		defer ns.Close()
		nh, err := netlink.NewHandleAt(ns)
		if err != nil {
			return err
		}
		defer nh.Close()
		link, err := nh.LinkByName(dev)
		if err != nil {
			return err
		}
		idx := link.Attrs().Index
		neighs, err := nh.NeighList(idx, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		gw := net.IP(peer.Subnet.Addr().AsSlice())
		neigh := false
		for _, n := range neighs {
			if n.IP.Equal(gw) && n.HardwareAddr.String() == data.VtepMAC && n.State&netlink.NUD_PERMANENT != 0 {
				neigh = true
			}
		}
		fdbs, err := nh.NeighList(idx, syscall.AF_BRIDGE)
		if err != nil {
			return err
		}
		fdb := false
		for _, n := range fdbs {
			if n.HardwareAddr.String() == data.VtepMAC && n.IP.Equal(net.IP(peer.Attrs.PublicIP.AsSlice())) {
				fdb = true
			}
		}
		routes, err := nh.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: idx}, netlink.RT_FILTER_OIF)
		if err != nil {
			return err
		}
		route := false
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == peer.Subnet.String() && r.Gw.Equal(gw) && r.Flags&int(netlink.FLAG_ONLINK) != 0 {
				route = true
			}
		}
		if neigh != present || fdb != present || route != present {
			return fmt.Errorf("host %d, peer %s: neighbour %v, fdb %v, onlink route %v; want all %v", from, peer, neigh, fdb, route, present)
		}
		return nil
	}
}

func mustNS(t *testing.T, h *overlaytest.Host) netns.NsHandle {
	t.Helper()
	ns, err := netns.GetFromName(h.NS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}
