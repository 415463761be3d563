package overlay

import (
	"context"
)

// Backend programs one kind of data plane (vxlan, host-gw) on one node.
//
// The Agent drives it from one goroutine: Init once, then Start with the
// node's lease, then AddPeer and RemovePeer as the other nodes' leases come
// and go. Cleanup may be called on a backend that was never started (for
// example in a new process after a crash): it finds what to remove by name
// and by marker, not from memory. Implementations need not be safe for
// concurrent use.
type Backend interface {
	// Type is the backend type published in leases (TypeVXLAN, TypeHostGW).
	Type() string
	// Init prepares what does not depend on the node's subnet (such as the
	// VXLAN device) from the network configuration, and returns the
	// attributes the node publishes in its lease. It is idempotent: a
	// restarted node finds its devices and keeps them.
	Init(ctx context.Context, cfg *Config) (LeaseAttrs, error)
	// MTU is the MTU of the pod network, valid after Init.
	MTU() int
	// Start configures the node's own side for its lease.
	Start(ctx context.Context, local *Lease) error
	// AddPeer makes the subnet of a peer's lease reachable, replacing what
	// an earlier AddPeer of the same subnet did. It is idempotent.
	AddPeer(ctx context.Context, peer *Lease) error
	// RemovePeer undoes AddPeer for the peer's lease; a peer that is not
	// there is not an error.
	RemovePeer(ctx context.Context, peer *Lease) error
	// Cleanup removes every device, route, neighbour and forwarding entry
	// the backend made for the network cfg.Network.
	Cleanup(ctx context.Context, cfg *Config) error
	// Close releases the backend's handles without touching the data
	// plane, which outlives the process.
	Close() error
}
