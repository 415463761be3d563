package overlay

import (
	"context"
	"net/netip"
	"sync"
)

// Overlay is the pod network of one node as the rest of gantry sees it: the
// node agent and the container runtime ask it for the node's pod subnet and
// MTU once it is ready. Run blocks until ctx is done.
//
// Agent is the real implementation; Static serves tests and single-node
// setups without a data plane.
type Overlay interface {
	// Run brings the node's pod network up and keeps it up until ctx is
	// done.
	Run(ctx context.Context) error
	// Ready is closed once Subnet and MTU are valid.
	Ready() <-chan struct{}
	// Subnet is the node's pod subnet.
	Subnet() netip.Prefix
	// MTU is the MTU of pod interfaces.
	MTU() int
}

var (
	_ Overlay = (*Agent)(nil)
	_ Overlay = (*Static)(nil)
)

// Static is an Overlay with a fixed subnet and nothing to program: for
// tests and for a single node, whose pods need no routes to other nodes.
// It is ready from the start.
type Static struct {
	// PodSubnet is what Subnet returns.
	PodSubnet netip.Prefix
	// PodMTU is what MTU returns; 1500 if 0.
	PodMTU int

	once  sync.Once
	ready chan struct{}
}

// Run blocks until ctx is done and returns nil.
func (s *Static) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Ready is a closed channel.
func (s *Static) Ready() <-chan struct{} {
	s.once.Do(func() {
		s.ready = make(chan struct{})
		close(s.ready)
	})
	return s.ready
}

// Subnet is PodSubnet.
func (s *Static) Subnet() netip.Prefix { return s.PodSubnet }

// MTU is PodMTU, or 1500.
func (s *Static) MTU() int {
	if s.PodMTU == 0 {
		return 1500
	}
	return s.PodMTU
}
