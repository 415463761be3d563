package hostgw

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/internal/host"
)

// ErrNotOnLink is returned by AddPeer for a peer whose public IP is not on
// this node's L2 segment, which host-gw cannot reach.
var ErrNotOnLink = errors.New("peer is not on the node's L2 segment")

// Options configure New.
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
	// MTU of the pod network; the configuration's Backend.MTU, else the
	// underlay's MTU, if 0.
	MTU int
}

// Backend is the host-gw overlay.Backend. Create it with New.
type Backend struct {
	opts     Options
	h        *netlink.Handle
	underlay *host.Underlay
	mtu      int
}

var _ overlay.Backend = (*Backend)(nil)

// New validates opts and returns a backend; it touches nothing until Init.
func New(opts Options) (*Backend, error) {
	if opts.MTU < 0 {
		return nil, fmt.Errorf("hostgw: negative MTU %d", opts.MTU)
	}
	if opts.PublicIP.IsValid() && !opts.PublicIP.Is4() {
		return nil, fmt.Errorf("hostgw: public IP %s is not IPv4", opts.PublicIP)
	}
	return &Backend{opts: opts}, nil
}

// Type is overlay.TypeHostGW.
func (b *Backend) Type() string { return overlay.TypeHostGW }

// MTU is the pod network's MTU, valid after Init.
func (b *Backend) MTU() int { return b.mtu }

func (b *Backend) handle() (*netlink.Handle, error) {
	if b.h == nil {
		h, err := host.Open(b.opts.Namespace)
		if err != nil {
			return nil, fmt.Errorf("hostgw: %w", err)
		}
		b.h = h
	}
	return b.h, nil
}

// Init finds the underlay interface and returns the node's lease
// attributes.
func (b *Backend) Init(ctx context.Context, cfg *overlay.Config) (overlay.LeaseAttrs, error) {
	h, err := b.handle()
	if err != nil {
		return overlay.LeaseAttrs{}, err
	}
	u, err := host.FindUnderlay(h, b.opts.Interface, b.opts.PublicIP)
	if err != nil {
		return overlay.LeaseAttrs{}, fmt.Errorf("hostgw: %w", err)
	}
	b.underlay = u
	b.mtu = u.MTU()
	if cfg.Backend.MTU != 0 {
		b.mtu = cfg.Backend.MTU
	}
	if b.opts.MTU != 0 {
		b.mtu = b.opts.MTU
	}
	return overlay.LeaseAttrs{PublicIP: u.Addr.Addr(), BackendType: overlay.TypeHostGW}, nil
}

// Start has nothing to do: the pod bridge carries the node's subnet.
func (b *Backend) Start(ctx context.Context, local *overlay.Lease) error {
	if b.underlay == nil {
		return errors.New("hostgw: Start before Init")
	}
	return nil
}

func (b *Backend) route(peer *overlay.Lease) *netlink.Route {
	return host.Route(peer.Subnet, peer.Attrs.PublicIP, b.underlay.Link.Attrs().Index, false)
}

// AddPeer routes the peer's subnet via its public IP.
func (b *Backend) AddPeer(ctx context.Context, peer *overlay.Lease) error {
	if b.underlay == nil {
		return errors.New("hostgw: AddPeer before Init")
	}
	if !b.underlay.OnLink(peer.Attrs.PublicIP) {
		return fmt.Errorf("hostgw: peer %s at %s (underlay %s): %w", peer.Subnet, peer.Attrs.PublicIP, b.underlay.Addr, ErrNotOnLink)
	}
	if err := b.h.RouteReplace(b.route(peer)); err != nil {
		return fmt.Errorf("hostgw: route to %s via %s: %w", peer.Subnet, peer.Attrs.PublicIP, err)
	}
	return nil
}

// RemovePeer deletes the route to the peer's subnet.
func (b *Backend) RemovePeer(ctx context.Context, peer *overlay.Lease) error {
	if b.underlay == nil {
		return errors.New("hostgw: RemovePeer before Init")
	}
	if err := host.DelRoute(b.h, b.route(peer)); err != nil {
		return fmt.Errorf("hostgw: route to %s: %w", peer.Subnet, err)
	}
	return nil
}

// Cleanup deletes every route the overlay installed into cfg.Network.
func (b *Backend) Cleanup(ctx context.Context, cfg *overlay.Config) error {
	h, err := b.handle()
	if err != nil {
		return err
	}
	if err := host.DeleteOwnedRoutes(h, cfg.Network); err != nil {
		return fmt.Errorf("hostgw: %w", err)
	}
	return nil
}

// Close releases the netlink handle; the routes stay.
func (b *Backend) Close() error {
	if b.h != nil {
		b.h.Close()
		b.h = nil
	}
	b.underlay = nil
	return nil
}
