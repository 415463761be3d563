package overlay

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/gantryhq/gantry/overlay/internal/host"
)

// DefaultBridge is the name of the bridge the node's pods attach to.
const DefaultBridge = "gantry0"

// BridgeAddr is the address of the pod bridge in subnet: its first host
// address (10.244.3.1 in 10.244.3.0/24), the pods' default gateway.
func BridgeAddr(subnet netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(subnet.Masked().Addr().Next(), subnet.Bits())
}

// ensureBridge creates (or adopts) the bridge called name with the address
// addr as its only IPv4 address, sets its MTU and brings it up.
func ensureBridge(h *netlink.Handle, name string, addr netip.Prefix, mtu int) error {
	link, err := h.LinkByName(name)
	if host.IsNotFound(err) {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}}
		if err := h.LinkAdd(br); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("bridge %q: create: %w", name, err)
		}
		link, err = h.LinkByName(name)
	}
	if err != nil {
		return fmt.Errorf("bridge %q: %w", name, err)
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("bridge %q: a %s device has that name", name, link.Type())
	}
	if link.Attrs().MTU != mtu {
		if err := h.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("bridge %q: set MTU %d: %w", name, mtu, err)
		}
	}
	addrs, err := host.AddrList(h, link)
	if err != nil {
		return fmt.Errorf("bridge %q: list addresses: %w", name, err)
	}
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && netip.PrefixFrom(ip, ones) == addr {
			continue
		}
		if err := h.AddrDel(link, &a); err != nil {
			return fmt.Errorf("bridge %q: delete stale address %s: %w", name, a.IPNet, err)
		}
	}
	if err := h.AddrReplace(link, &netlink.Addr{IPNet: host.IPNet(addr)}); err != nil {
		return fmt.Errorf("bridge %q: address %s: %w", name, addr, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("bridge %q: up: %w", name, err)
	}
	return nil
}

// deleteBridge removes the bridge called name if it exists. The interfaces
// attached to it (the pods') are detached, not deleted.
func deleteBridge(h *netlink.Handle, name string) error {
	link, err := h.LinkByName(name)
	if host.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bridge %q: %w", name, err)
	}
	if err := h.LinkDel(link); err != nil && !host.IsNotFound(err) {
		return fmt.Errorf("bridge %q: delete: %w", name, err)
	}
	return nil
}
