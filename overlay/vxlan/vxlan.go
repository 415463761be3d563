package vxlan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/internal/host"
)

// Defaults, also taken from the network configuration's Backend object.
const (
	// DefaultVNI is the VXLAN network identifier.
	DefaultVNI = 1
	// DefaultPort is the VXLAN UDP port: the Linux kernel's default, as
	// flannel uses it (IANA's is 4789).
	DefaultPort = 8472
	// Overhead is what VXLAN encapsulation adds to a packet: outer IPv4 (20),
	// UDP (8), VXLAN (8) and inner Ethernet (14) headers.
	Overhead = 50
)

// Options configure New. A zero field takes its value from the network
// configuration's Backend object, and from the defaults above after that.
type Options struct {
	// Namespace is the path of the node's network namespace; "" is the
	// process's own.
	Namespace string
	// Interface is the underlay interface; by default the one with
	// PublicIP, or the one of the default route.
	Interface string
	// PublicIP is the node's underlay address published to the peers; by
	// default the first global IPv4 address of the interface.
	PublicIP netip.Addr
	// VNI is the VXLAN network identifier.
	VNI int
	// Port is the VXLAN UDP port.
	Port int
	// DirectRouting routes directly to peers on the same L2 segment (hybrid
	// mode). The configuration's DirectRouting turns it on too.
	DirectRouting bool
	// MTU of the pod network; the underlay's MTU minus Overhead by default.
	MTU int
	// Device is the name of the VXLAN device; gantry.<VNI> by default.
	Device string
}

// BackendData is what a node publishes in its lease.
type BackendData struct {
	VNI     int
	VtepMAC string
}

// Backend is the vxlan overlay.Backend. Create it with New.
type Backend struct {
	opts Options
	h    *netlink.Handle

	// Set by Init.
	underlay *host.Underlay
	dev      netlink.Link
	vni      int
	mtu      int
	direct   bool
}

var _ overlay.Backend = (*Backend)(nil)

// New validates opts and returns a backend; it touches nothing until Init.
func New(opts Options) (*Backend, error) {
	if opts.VNI < 0 || opts.VNI >= 1<<24 {
		return nil, fmt.Errorf("vxlan: VNI %d out of range", opts.VNI)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("vxlan: port %d out of range", opts.Port)
	}
	if opts.MTU < 0 {
		return nil, fmt.Errorf("vxlan: negative MTU %d", opts.MTU)
	}
	if opts.PublicIP.IsValid() && !opts.PublicIP.Is4() {
		return nil, fmt.Errorf("vxlan: public IP %s is not IPv4", opts.PublicIP)
	}
	if len(opts.Device) > 15 {
		return nil, fmt.Errorf("vxlan: device name %q is longer than 15 characters", opts.Device)
	}
	return &Backend{opts: opts}, nil
}

// Type is overlay.TypeVXLAN.
func (b *Backend) Type() string { return overlay.TypeVXLAN }

// MTU is the pod network's MTU, valid after Init.
func (b *Backend) MTU() int { return b.mtu }

// device returns the name of the VXLAN device and the VNI that opts and cfg
// give.
func (b *Backend) device(cfg *overlay.Config) (string, int) {
	vni := firstNonZero(b.opts.VNI, cfg.Backend.VNI, DefaultVNI)
	if b.opts.Device != "" {
		return b.opts.Device, vni
	}
	return "gantry." + strconv.Itoa(vni), vni
}

func firstNonZero(vs ...int) int {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}

func (b *Backend) handle() (*netlink.Handle, error) {
	if b.h == nil {
		h, err := host.Open(b.opts.Namespace)
		if err != nil {
			return nil, fmt.Errorf("vxlan: %w", err)
		}
		b.h = h
	}
	return b.h, nil
}

// Init creates (or adopts) the VXLAN device and returns the node's lease
// attributes with its VNI and VTEP MAC.
func (b *Backend) Init(ctx context.Context, cfg *overlay.Config) (overlay.LeaseAttrs, error) {
	h, err := b.handle()
	if err != nil {
		return overlay.LeaseAttrs{}, err
	}
	u, err := host.FindUnderlay(h, b.opts.Interface, b.opts.PublicIP)
	if err != nil {
		return overlay.LeaseAttrs{}, fmt.Errorf("vxlan: %w", err)
	}
	name, vni := b.device(cfg)
	port := firstNonZero(b.opts.Port, cfg.Backend.Port, DefaultPort)
	mtu := firstNonZero(b.opts.MTU, cfg.Backend.MTU, u.MTU()-Overhead)
	want := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: name, MTU: mtu},
		VxlanId:      vni,
		VtepDevIndex: u.Link.Attrs().Index,
		SrcAddr:      u.Addr.Addr().AsSlice(),
		Port:         port,
		Learning:     false,
	}
	dev, err := ensureDevice(h, want)
	if err != nil {
		return overlay.LeaseAttrs{}, fmt.Errorf("vxlan: device %q: %w", name, err)
	}
	b.underlay, b.dev, b.vni, b.mtu = u, dev, vni, mtu
	b.direct = b.opts.DirectRouting || cfg.Backend.DirectRouting
	data, err := json.Marshal(BackendData{VNI: vni, VtepMAC: dev.Attrs().HardwareAddr.String()})
	if err != nil {
		return overlay.LeaseAttrs{}, err
	}
	return overlay.LeaseAttrs{PublicIP: u.Addr.Addr(), BackendType: overlay.TypeVXLAN, BackendData: data}, nil
}

// ensureDevice returns the VXLAN device want, keeping an existing one that
// matches (and so its MAC address, which the peers know) and replacing one
// that does not.
func ensureDevice(h *netlink.Handle, want *netlink.Vxlan) (netlink.Link, error) {
	name := want.Name
	link, err := h.LinkByName(name)
	switch {
	case err == nil:
		if v, ok := link.(*netlink.Vxlan); ok && v.VxlanId == want.VxlanId && v.Port == want.Port &&
			v.VtepDevIndex == want.VtepDevIndex && net.IP.Equal(v.SrcAddr, want.SrcAddr) && !v.Learning {
			break
		}
		if err := h.LinkDel(link); err != nil {
			return nil, fmt.Errorf("delete mismatching device: %w", err)
		}
		fallthrough
	case host.IsNotFound(err):
		if err := h.LinkAdd(want); err != nil {
			return nil, fmt.Errorf("create: %w", err)
		}
		if link, err = h.LinkByName(name); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if link.Attrs().MTU != want.MTU {
		if err := h.LinkSetMTU(link, want.MTU); err != nil {
			return nil, fmt.Errorf("set MTU %d: %w", want.MTU, err)
		}
	}
	return link, nil
}

// Start puts the node's subnet address (10.244.3.0/32 for 10.244.3.0/24) on
// the device, removing any other, and brings it up.
func (b *Backend) Start(ctx context.Context, local *overlay.Lease) error {
	if b.dev == nil {
		return errors.New("vxlan: Start before Init")
	}
	addr := netip.PrefixFrom(local.Subnet.Addr(), 32)
	addrs, err := host.AddrList(b.h, b.dev)
	if err != nil {
		return fmt.Errorf("vxlan: device %q: list addresses: %w", b.dev.Attrs().Name, err)
	}
	for _, a := range addrs {
		if ip, _ := netip.AddrFromSlice(a.IP.To4()); ip == addr.Addr() {
			continue
		}
		if err := b.h.AddrDel(b.dev, &a); err != nil {
			return fmt.Errorf("vxlan: device %q: delete stale address %s: %w", b.dev.Attrs().Name, a.IPNet, err)
		}
	}
	if err := b.h.AddrReplace(b.dev, &netlink.Addr{IPNet: host.IPNet(addr)}); err != nil {
		return fmt.Errorf("vxlan: device %q: address %s: %w", b.dev.Attrs().Name, addr, err)
	}
	if err := b.h.LinkSetUp(b.dev); err != nil {
		return fmt.Errorf("vxlan: device %q: up: %w", b.dev.Attrs().Name, err)
	}
	return nil
}

// isDirect reports whether peer is reached by a plain route.
func (b *Backend) isDirect(peer *overlay.Lease) bool {
	return b.direct && b.underlay.OnLink(peer.Attrs.PublicIP)
}

func peerMAC(peer *overlay.Lease) (net.HardwareAddr, error) {
	var d BackendData
	if err := json.Unmarshal(peer.Attrs.BackendData, &d); err != nil {
		return nil, fmt.Errorf("backend data of %s: %w", peer.Subnet, err)
	}
	mac, err := net.ParseMAC(d.VtepMAC)
	if err != nil {
		return nil, fmt.Errorf("VTEP MAC of %s: %w", peer.Subnet, err)
	}
	return mac, nil
}

// AddPeer programs the route to the peer's subnet: directly via its public
// IP in hybrid mode when it is on the same L2 segment, else through the
// VXLAN device with its neighbour and forwarding entries.
func (b *Backend) AddPeer(ctx context.Context, peer *overlay.Lease) error {
	if b.dev == nil {
		return errors.New("vxlan: AddPeer before Init")
	}
	if b.isDirect(peer) {
		r := host.Route(peer.Subnet, peer.Attrs.PublicIP, b.underlay.Link.Attrs().Index, false)
		if err := b.h.RouteReplace(r); err != nil {
			return fmt.Errorf("vxlan: direct route to %s via %s: %w", peer.Subnet, peer.Attrs.PublicIP, err)
		}
		return nil
	}
	mac, err := peerMAC(peer)
	if err != nil {
		return fmt.Errorf("vxlan: %w", err)
	}
	idx := b.dev.Attrs().Index
	gw := peer.Subnet.Addr()
	// The neighbour entry answers for the peer's gateway address, so the
	// kernel never sends an ARP request over the tunnel.
	if err := b.h.NeighSet(&netlink.Neigh{
		LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, Type: syscall.RTN_UNICAST,
		IP: gw.AsSlice(), HardwareAddr: mac,
	}); err != nil {
		return fmt.Errorf("vxlan: neighbour %s -> %s: %w", gw, mac, err)
	}
	// The forwarding entry sends frames for the peer's VTEP MAC to its
	// public IP.
	if err := b.h.NeighSet(fdbEntry(idx, mac, peer.Attrs.PublicIP)); err != nil {
		return fmt.Errorf("vxlan: fdb %s -> %s: %w", mac, peer.Attrs.PublicIP, err)
	}
	if err := b.h.RouteReplace(host.Route(peer.Subnet, gw, idx, true)); err != nil {
		return fmt.Errorf("vxlan: route to %s via %s: %w", peer.Subnet, gw, err)
	}
	return nil
}

func fdbEntry(idx int, mac net.HardwareAddr, dst netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex: idx, Family: syscall.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
		IP: dst.AsSlice(), HardwareAddr: mac,
	}
}

// RemovePeer removes the route to the peer's subnet and, for a peer behind
// VXLAN, its neighbour and forwarding entries.
func (b *Backend) RemovePeer(ctx context.Context, peer *overlay.Lease) error {
	if b.dev == nil {
		return errors.New("vxlan: RemovePeer before Init")
	}
	var errs []error
	if b.isDirect(peer) {
		r := host.Route(peer.Subnet, peer.Attrs.PublicIP, b.underlay.Link.Attrs().Index, false)
		if err := host.DelRoute(b.h, r); err != nil {
			errs = append(errs, fmt.Errorf("direct route to %s: %w", peer.Subnet, err))
		}
		return joinErr(errs)
	}
	idx := b.dev.Attrs().Index
	gw := peer.Subnet.Addr()
	if err := host.DelRoute(b.h, host.Route(peer.Subnet, gw, idx, true)); err != nil {
		errs = append(errs, fmt.Errorf("route to %s: %w", peer.Subnet, err))
	}
	if mac, err := peerMAC(peer); err == nil {
		if err := b.h.NeighDel(&netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, IP: gw.AsSlice(), HardwareAddr: mac}); ignoreGone(err) != nil {
			errs = append(errs, fmt.Errorf("neighbour %s: %w", gw, err))
		}
		if err := b.h.NeighDel(fdbEntry(idx, mac, peer.Attrs.PublicIP)); ignoreGone(err) != nil {
			errs = append(errs, fmt.Errorf("fdb %s: %w", mac, err))
		}
	}
	return joinErr(errs)
}

func ignoreGone(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

func joinErr(errs []error) error {
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vxlan: %w", err)
	}
	return nil
}

// Cleanup deletes the VXLAN device, which takes its addresses, routes,
// neighbour and forwarding entries with it, and the direct routes of hybrid
// mode.
func (b *Backend) Cleanup(ctx context.Context, cfg *overlay.Config) error {
	h, err := b.handle()
	if err != nil {
		return err
	}
	var errs []error
	name, _ := b.device(cfg)
	link, err := h.LinkByName(name)
	switch {
	case err == nil:
		if err := h.LinkDel(link); err != nil && !host.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete device %q: %w", name, err))
		}
	case !host.IsNotFound(err):
		errs = append(errs, fmt.Errorf("device %q: %w", name, err))
	}
	if err := host.DeleteOwnedRoutes(h, cfg.Network); err != nil {
		errs = append(errs, err)
	}
	b.dev = nil
	return joinErr(errs)
}

// Close releases the netlink handle; the data plane stays.
func (b *Backend) Close() error {
	if b.h != nil {
		b.h.Close()
		b.h = nil
	}
	b.dev = nil
	return nil
}
