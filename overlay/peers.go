package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// peers keeps the backend in step with the peers' leases, level-triggered:
// want is what the store says, have is what the backend has been told
// successfully. apply moves have towards want and can be called again after
// a failure. It starts no goroutines and is used from one.
type peers struct {
	backend Backend
	own     netip.Prefix
	log     *slog.Logger
	want    map[netip.Prefix]Lease
	have    map[netip.Prefix]Lease
}

func newPeers(b Backend, own netip.Prefix, log *slog.Logger) *peers {
	return &peers{backend: b, own: own, log: log, want: map[netip.Prefix]Lease{}, have: map[netip.Prefix]Lease{}}
}

// wanted reports whether l is a peer the backend should program.
func (p *peers) wanted(l Lease) bool {
	if l.Subnet == p.own {
		return false
	}
	if l.Attrs.BackendType != p.backend.Type() {
		p.log.Warn("overlay: ignoring a peer with another backend", "subnet", l.Subnet, "publicIP", l.Attrs.PublicIP, "backend", l.Attrs.BackendType)
		return false
	}
	return true
}

// reset replaces the wanted peers with leases (a fresh list).
func (p *peers) reset(leases []Lease) {
	p.want = make(map[netip.Prefix]Lease, len(leases))
	for _, l := range leases {
		if p.wanted(l) {
			p.want[l.Subnet] = l
		}
	}
}

// wants reports whether subnet is a wanted peer.
func (p *peers) wants(subnet netip.Prefix) bool {
	_, ok := p.want[subnet]
	return ok
}

// event applies one lease change to the wanted peers.
func (p *peers) event(ev LeaseEvent) {
	switch ev.Type {
	case LeaseAdded:
		if p.wanted(ev.Lease) {
			p.want[ev.Lease.Subnet] = ev.Lease
		} else {
			delete(p.want, ev.Lease.Subnet)
		}
	case LeaseRemoved:
		delete(p.want, ev.Lease.Subnet)
	}
}

// apply removes the peers that are no longer wanted or have changed, and
// adds the new and changed ones. It returns the errors of the peers it
// could not program; they are tried again on the next call.
func (p *peers) apply(ctx context.Context) error {
	var errs []error
	for s, old := range p.have {
		if l, ok := p.want[s]; ok && l.Attrs.Equal(old.Attrs) {
			continue
		}
		if err := p.backend.RemovePeer(ctx, &old); err != nil {
			errs = append(errs, fmt.Errorf("remove peer %s: %w", &old, err))
			continue
		}
		delete(p.have, s)
		p.log.Info("overlay: removed peer", "subnet", s, "publicIP", old.Attrs.PublicIP)
	}
	for s, l := range p.want {
		if _, ok := p.have[s]; ok {
			continue
		}
		if err := p.backend.AddPeer(ctx, &l); err != nil {
			errs = append(errs, fmt.Errorf("add peer %s: %w", &l, err))
			continue
		}
		p.have[s] = l
		p.log.Info("overlay: added peer", "subnet", s, "publicIP", l.Attrs.PublicIP)
	}
	return errors.Join(errs...)
}
