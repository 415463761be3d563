// Package host is the node side of the overlay's data plane that the
// backends share: netlink handles bound to a network namespace, running code
// inside a namespace, the underlay interface, and the routes the overlay owns.
//
// Every netlink call goes through a [netlink.Handle] opened in the target
// namespace, never through the process's current one, so several "hosts" can
// be programmed concurrently from one process.
package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gantryhq/gantry/internal/netnsutil"
)

// RouteProtocol marks the routes the overlay installs (rtm_protocol), so that
// they can be found and removed again without remembering them, also by a
// process that did not add them.
const RouteProtocol netlink.RouteProtocol = 0xf4

// Open returns a netlink handle in the network namespace at nsPath (for
// example /var/run/netns/node1); "" means the process's current namespace.
// The caller closes the handle.
func Open(nsPath string) (*netlink.Handle, error) {
	if nsPath == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("network namespace %q: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in namespace %q: %w", nsPath, err)
	}
	return h, nil
}

// SetSysctl writes value to /proc/sys/<name> (name with slashes, for example
// net/ipv4/ip_forward) in the namespace at nsPath.
func SetSysctl(nsPath, name, value string) error {
	return netnsutil.Do(nsPath, func() error {
		if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", name, err)
		}
		return nil
	})
}

// Underlay is the interface that carries the overlay's traffic between nodes.
type Underlay struct {
	Link netlink.Link
	// Addr is the node's public IPv4 address on Link, with the prefix of its
	// L2 segment.
	Addr netip.Prefix
}

// Name is the underlay interface's name.
func (u *Underlay) Name() string { return u.Link.Attrs().Name }

// MTU is the underlay interface's MTU.
func (u *Underlay) MTU() int { return u.Link.Attrs().MTU }

// OnLink reports whether ip is on the underlay's L2 segment, that is, whether
// it can be reached without a router.
func (u *Underlay) OnLink(ip netip.Addr) bool { return u.Addr.Masked().Contains(ip) }

// FindUnderlay finds the underlay interface: the one named ifname, or the
// one carrying publicIP, or, when both are empty, the interface of the IPv4
// default route. The address is publicIP, or the interface's first global
// IPv4 address.
func FindUnderlay(h *netlink.Handle, ifname string, publicIP netip.Addr) (*Underlay, error) {
	var link netlink.Link
	var err error
	switch {
	case ifname != "":
		if link, err = h.LinkByName(ifname); err != nil {
			return nil, fmt.Errorf("underlay interface %q: %w", ifname, err)
		}
	case publicIP.IsValid():
		if link, err = linkWithAddr(h, publicIP); err != nil {
			return nil, err
		}
	default:
		if link, err = defaultRouteLink(h); err != nil {
			return nil, err
		}
	}
	name := link.Attrs().Name
	addrs, err := AddrList(h, link)
	if err != nil {
		return nil, fmt.Errorf("addresses of underlay interface %q: %w", name, err)
	}
	for _, a := range addrs {
		p, ok := prefixOf(a)
		if !ok || (publicIP.IsValid() && p.Addr() != publicIP) || (!publicIP.IsValid() && !p.Addr().IsGlobalUnicast()) {
			continue
		}
		return &Underlay{Link: link, Addr: p}, nil
	}
	if publicIP.IsValid() {
		return nil, fmt.Errorf("underlay interface %q does not have address %s", name, publicIP)
	}
	return nil, fmt.Errorf("underlay interface %q has no global IPv4 address", name)
}

func linkWithAddr(h *netlink.Handle, ip netip.Addr) (netlink.Link, error) {
	addrs, err := AddrList(h, nil)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a); ok && p.Addr() == ip {
			return h.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("no interface has address %s", ip)
}

func defaultRouteLink(h *netlink.Handle) (netlink.Link, error) {
	routes, err := RouteList(h, &netlink.Route{Table: syscall.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.LinkIndex > 0 {
			return h.LinkByIndex(r.LinkIndex)
		}
	}
	return nil, errors.New("no IPv4 default route to find the underlay interface by")
}

func prefixOf(a netlink.Addr) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(a.IP.To4())
	if !ok || a.IPNet == nil {
		return netip.Prefix{}, false
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip, ones), true
}

// IPNet converts p into the type netlink uses.
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Route returns the route the overlay installs to dst via gw on the link
// with index linkIndex; onlink skips the kernel's check that gw is on a
// connected subnet (for gateways behind a VXLAN device).
func Route(dst netip.Prefix, gw netip.Addr, linkIndex int, onlink bool) *netlink.Route {
	r := &netlink.Route{
		LinkIndex: linkIndex,
		Dst:       IPNet(dst),
		Gw:        gw.AsSlice(),
		Protocol:  RouteProtocol,
		Table:     syscall.RT_TABLE_MAIN,
	}
	if onlink {
		r.Flags = int(netlink.FLAG_ONLINK)
	}
	return r
}

// DelRoute deletes r; a route that is already gone is not an error.
func DelRoute(h *netlink.Handle, r *netlink.Route) error {
	if err := h.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENOENT) {
		return err
	}
	return nil
}

// OwnedRoutes lists the routes the overlay installed (by RouteProtocol) in
// the main table.
func OwnedRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	return RouteList(h, &netlink.Route{Protocol: RouteProtocol, Table: syscall.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
}

// DeleteOwnedRoutes removes every route the overlay installed whose
// destination is inside network.
func DeleteOwnedRoutes(h *netlink.Handle, network netip.Prefix) error {
	routes, err := OwnedRoutes(h)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	var errs []error
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(r.Dst.IP.To4())
		if !network.Contains(ip) {
			continue
		}
		if err := DelRoute(h, &r); err != nil {
			errs = append(errs, fmt.Errorf("delete route to %s: %w", r.Dst, err))
		}
	}
	return errors.Join(errs...)
}

// dumpRetries bounds the retries of a netlink dump interrupted by a
// concurrent change.
const dumpRetries = 5

// RouteList is h.RouteListFiltered for IPv4, retried when a concurrent
// change interrupted the dump.
func RouteList(h *netlink.Handle, filter *netlink.Route, mask uint64) ([]netlink.Route, error) {
	if filter == nil {
		filter, mask = &netlink.Route{}, 0 // netlink dereferences a nil filter
	}
	return retryDump(func() ([]netlink.Route, error) { return h.RouteListFiltered(netlink.FAMILY_V4, filter, mask) })
}

// AddrList is h.AddrList for IPv4, retried like RouteList.
func AddrList(h *netlink.Handle, link netlink.Link) ([]netlink.Addr, error) {
	return retryDump(func() ([]netlink.Addr, error) { return h.AddrList(link, netlink.FAMILY_V4) })
}

// NeighList is h.NeighList, retried like RouteList.
func NeighList(h *netlink.Handle, linkIndex, family int) ([]netlink.Neigh, error) {
	return retryDump(func() ([]netlink.Neigh, error) { return h.NeighList(linkIndex, family) })
}

// LinkList is h.LinkList, retried like RouteList.
func LinkList(h *netlink.Handle) ([]netlink.Link, error) {
	return retryDump(h.LinkList)
}

func retryDump[T any](f func() ([]T, error)) ([]T, error) {
	var err error
	for range dumpRetries {
		var out []T
		out, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

// IsNotFound reports whether err says that a link does not exist.
func IsNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, syscall.ENODEV)
}
