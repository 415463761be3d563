package host_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/gantryhq/gantry/internal/netnsutil"
	"github.com/gantryhq/gantry/overlay/internal/host"
	"github.com/gantryhq/gantry/overlay/overlaytest"
)

func TestNamespaceHelpers(t *testing.T) {
	t.Parallel()
	tp := overlaytest.NewTopology(t, 1)
	h := tp.AddHost(0)

	// Do runs in the namespace: its /proc/sys/net is the host's.
	if err := host.SetSysctl(h.NSPath(), "net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := netnsutil.Do(h.NSPath(), func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		inside = strings.TrimSpace(string(b))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside != "1" {
		t.Errorf("ip_forward in %s is %q", h.NS, inside)
	}

	nh, err := host.Open(h.NSPath())
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()

	// The underlay is found by name, by address and by the default route.
	for _, tc := range []struct {
		name   string
		ifname string
		ip     netip.Addr
	}{
		{"by name", overlaytest.Iface, netip.Addr{}},
		{"by address", "", h.PublicIP()},
		{"by default route", "", netip.Addr{}},
	} {
		u, err := host.FindUnderlay(nh, tc.ifname, tc.ip)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if u.Name() != overlaytest.Iface || u.Addr != h.Addr || u.MTU() != 1500 {
			t.Errorf("%s: %s %s mtu %d", tc.name, u.Name(), u.Addr, u.MTU())
		}
		if !u.OnLink(netip.MustParseAddr("10.99.0.200")) || u.OnLink(netip.MustParseAddr("10.99.1.1")) {
			t.Errorf("%s: OnLink wrong for %s", tc.name, u.Addr)
		}
	}
	if _, err := host.FindUnderlay(nh, "", netip.MustParseAddr("10.1.1.1")); err == nil {
		t.Error("found an underlay for an address no interface has")
	}

	// DeleteOwnedRoutes removes the overlay's routes into the network, and
	// nothing else.
	eth, err := nh.LinkByName(overlaytest.Iface)
	if err != nil {
		t.Fatal(err)
	}
	gw := netip.MustParseAddr("10.99.0.254")
	network := netip.MustParsePrefix("10.244.0.0/16")
	own := host.Route(netip.MustParsePrefix("10.244.5.0/24"), gw, eth.Attrs().Index, false)
	outside := host.Route(netip.MustParsePrefix("10.245.5.0/24"), gw, eth.Attrs().Index, false)
	foreign := &netlink.Route{LinkIndex: eth.Attrs().Index, Dst: host.IPNet(netip.MustParsePrefix("10.244.6.0/24")), Gw: gw.AsSlice()}
	for _, r := range []*netlink.Route{own, outside, foreign} {
		if err := nh.RouteAdd(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := host.DeleteOwnedRoutes(nh, network); err != nil {
		t.Fatal(err)
	}
	routes, err := host.RouteList(nh, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]bool{}
	for _, r := range routes {
		if r.Dst != nil {
			left[r.Dst.String()] = true
		}
	}
	if left["10.244.5.0/24"] || !left["10.245.5.0/24"] || !left["10.244.6.0/24"] {
		t.Errorf("routes left: %v", left)
	}
	// Deleting a route that is gone is not an error.
	if err := host.DelRoute(nh, own); err != nil {
		t.Error(err)
	}
}
