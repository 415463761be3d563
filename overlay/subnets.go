package overlay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/gantryhq/gantry/store"
)

// Errors of the subnet manager; check them with errors.Is.
var (
	// ErrNoFreeSubnet: every subnet of the network is leased.
	ErrNoFreeSubnet = errors.New("no free subnet in the network")
	// ErrLeaseLost: the node's lease expired and its subnet went to
	// another node; the node must start over with a new subnet.
	ErrLeaseLost = errors.New("subnet lease lost")
	// ErrNoConfig: the network configuration is not in the store.
	ErrNoConfig = errors.New("no network configuration")
)

// DefaultLeaseTTL is how long a lease lives unless renewed.
const DefaultLeaseTTL = 24 * time.Hour

// SubnetManagerOptions configure NewSubnetManager.
type SubnetManagerOptions struct {
	// Store holds the configuration and the leases. Required.
	Store store.Store
	// Prefix is the key prefix of the network; DefaultPrefix if empty.
	Prefix string
	// TTL is the lifetime of a lease; DefaultLeaseTTL if zero.
	TTL time.Duration
	// Now is the clock that lease expirations are computed with; time.Now
	// if nil.
	Now func() time.Time
}

// SubnetManager hands out the subnets of the network as leases in the
// store, flannel-style. It keeps no state between calls besides its options:
// it is safe for concurrent use, and several managers (one per node) can
// share a store; the store's compare-and-swap settles races.
type SubnetManager struct {
	store  store.Store
	prefix string // without trailing slash
	ttl    time.Duration
	now    func() time.Time
}

// NewSubnetManager validates opts and returns a manager.
func NewSubnetManager(opts SubnetManagerOptions) (*SubnetManager, error) {
	if opts.Store == nil {
		return nil, errors.New("overlay: SubnetManagerOptions.Store is required")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	opts.Prefix = strings.TrimSuffix(opts.Prefix, "/")
	if err := store.ValidateKey(opts.Prefix + "/config"); err != nil {
		return nil, fmt.Errorf("overlay: prefix %q: %w", opts.Prefix, err)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultLeaseTTL
	}
	if opts.TTL < 0 {
		return nil, fmt.Errorf("overlay: negative lease TTL %v", opts.TTL)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &SubnetManager{store: opts.Store, prefix: opts.Prefix, ttl: opts.TTL, now: opts.Now}, nil
}

// ConfigKey is the key of the network configuration.
func (m *SubnetManager) ConfigKey() string { return m.prefix + "/config" }

// SubnetsPrefix is the prefix of the lease keys, with a trailing slash.
func (m *SubnetManager) SubnetsPrefix() string { return m.prefix + "/subnets/" }

// LeaseKey is the key of subnet's lease.
func (m *SubnetManager) LeaseKey(subnet netip.Prefix) string {
	return m.SubnetsPrefix() + SubnetKeyName(subnet)
}

// TTL is the lifetime of the leases this manager writes.
func (m *SubnetManager) TTL() time.Duration { return m.ttl }

// Config reads the network configuration; a missing one is ErrNoConfig.
func (m *SubnetManager) Config(ctx context.Context) (*Config, error) {
	kv, err := m.store.Get(ctx, m.ConfigKey())
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", m.ConfigKey(), ErrNoConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("read network configuration: %w", err)
	}
	c, err := ParseConfig(kv.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.ConfigKey(), err)
	}
	return c, nil
}

// WaitConfig returns the network configuration, waiting (with a store
// watch) until it is stored if it is not there yet. It fails on a malformed
// configuration, and when ctx is done.
func (m *SubnetManager) WaitConfig(ctx context.Context) (*Config, error) {
	key := m.ConfigKey()
	for {
		// A list, unlike Get, says at which revision the key was missing.
		res, err := m.store.List(ctx, key, store.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("read network configuration: %w", err)
		}
		for _, kv := range res.Items {
			if kv.Key == key {
				c, err := ParseConfig(kv.Value)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
				return c, nil
			}
		}
		if err := m.waitKey(ctx, key, res.Revision); err != nil {
			return nil, err
		}
	}
}

// waitKey waits until key is written after revision rev (or the watch
// ends, which makes the caller look again).
func (m *SubnetManager) waitKey(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := m.store.Watch(wctx, key, rev)
	if err != nil {
		return fmt.Errorf("watch network configuration %s: %w", key, err)
	}
	for ev := range events {
		if ev.Key == key || ev.Type == store.EventError {
			return nil
		}
	}
	return ctx.Err()
}

// SetConfig validates c and stores it as the network configuration,
// replacing any previous one. It is for administrators and tests: agents
// only read it.
func (m *SubnetManager) SetConfig(ctx context.Context, c *Config) error {
	cc := *c
	if err := cc.complete(); err != nil {
		return err
	}
	data, err := cc.Marshal()
	if err != nil {
		return err
	}
	_, err = m.store.Create(ctx, m.ConfigKey(), data, store.WriteOptions{})
	if errors.Is(err, store.ErrAlreadyExists) {
		_, err = m.store.Update(ctx, m.ConfigKey(), data, 0, store.WriteOptions{})
	}
	if err != nil {
		return fmt.Errorf("write network configuration %s: %w", m.ConfigKey(), err)
	}
	return nil
}

// Leases lists the current leases and the revision they were read at, for
// a Watch to start from. Keys that are not leases are skipped.
func (m *SubnetManager) Leases(ctx context.Context) ([]Lease, int64, error) {
	var out []Lease
	var rev int64
	opts := store.ListOptions{Limit: 500}
	for {
		res, err := m.store.List(ctx, m.SubnetsPrefix(), opts)
		if err != nil {
			return nil, 0, fmt.Errorf("list leases under %s: %w", m.SubnetsPrefix(), err)
		}
		rev = res.Revision
		for _, kv := range res.Items {
			l, err := m.parseLease(kv.Key, kv.Value, kv.ModRevision)
			if err != nil {
				continue // not ours to judge; a watch reports it too
			}
			out = append(out, l)
		}
		if res.Continue == "" {
			return out, rev, nil
		}
		opts = store.ListOptions{Limit: opts.Limit, Continue: res.Continue}
	}
}

func (m *SubnetManager) parseLease(key string, value []byte, rev int64) (Lease, error) {
	subnet, err := ParseSubnetKeyName(path.Base(key))
	if err != nil {
		return Lease{}, err
	}
	attrs, err := parseAttrs(key, value)
	if err != nil {
		return Lease{}, err
	}
	return Lease{Subnet: subnet, Attrs: attrs, Revision: rev}, nil
}

// AcquireOptions tune Acquire.
type AcquireOptions struct {
	// Prefer is a subnet to take if it is free, typically the one the node
	// had before (from its subnet.env) and whose lease has expired since.
	Prefer netip.Prefix
}

// Acquire leases a subnet of cfg's network for a node with attrs. A node
// that already holds a lease (same PublicIP) gets it back, with its
// attributes and TTL renewed; otherwise it gets opts.Prefer if that is free,
// else the lowest free subnet. When none is free it fails with
// ErrNoFreeSubnet.
func (m *SubnetManager) Acquire(ctx context.Context, cfg *Config, attrs LeaseAttrs, opts AcquireOptions) (*Lease, error) {
	if !attrs.PublicIP.Is4() {
		return nil, fmt.Errorf("acquire subnet: PublicIP %q is not an IPv4 address", attrs.PublicIP)
	}
	value, err := attrs.marshal()
	if err != nil {
		return nil, err
	}
retry:
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		leases, _, err := m.Leases(ctx)
		if err != nil {
			return nil, err
		}
		taken := make(map[netip.Prefix]bool, len(leases))
		for _, l := range leases {
			taken[l.Subnet] = true
			if l.Attrs.PublicIP != attrs.PublicIP || !cfg.contains(l.Subnet) {
				continue
			}
			// Ours from before: renew it in place.
			lease, err := m.write(ctx, l.Subnet, attrs, value, l.Revision)
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				continue retry // changed or expired under us: look again
			}
			return lease, err
		}
		subnet, ok := pickFree(cfg, taken, opts.Prefer)
		if !ok {
			return nil, fmt.Errorf("acquire subnet of %s for %s: %w", cfg.Network, attrs.PublicIP, ErrNoFreeSubnet)
		}
		lease, err := m.write(ctx, subnet, attrs, value, 0)
		if errors.Is(err, store.ErrAlreadyExists) {
			continue retry // another node was faster
		}
		return lease, err
	}
}

// pickFree returns prefer if it is a free subnet of cfg, else the lowest
// free one.
func pickFree(cfg *Config, taken map[netip.Prefix]bool, prefer netip.Prefix) (netip.Prefix, bool) {
	if prefer.IsValid() && cfg.contains(prefer) && !taken[prefer] {
		return prefer, true
	}
	for _, s := range cfg.Subnets() {
		if !taken[s] {
			return s, true
		}
	}
	return netip.Prefix{}, false
}

// write creates (rev 0) or updates (at rev) the lease of subnet.
func (m *SubnetManager) write(ctx context.Context, subnet netip.Prefix, attrs LeaseAttrs, value []byte, rev int64) (*Lease, error) {
	key := m.LeaseKey(subnet)
	now := m.now()
	wo := store.WriteOptions{TTL: m.ttl}
	var kv *store.KeyValue
	var err error
	if rev == 0 {
		kv, err = m.store.Create(ctx, key, value, wo)
	} else {
		kv, err = m.store.Update(ctx, key, value, rev, wo)
	}
	if err != nil {
		return nil, fmt.Errorf("lease %s: %w", key, err)
	}
	return &Lease{Subnet: subnet, Attrs: attrs, Expiration: now.Add(m.ttl), Revision: kv.ModRevision}, nil
}

// Renew extends lease by the TTL and returns the renewed lease. If the
// lease has expired in the meantime and its subnet is still free, it is
// taken again; if another node has it now, Renew fails with ErrLeaseLost.
func (m *SubnetManager) Renew(ctx context.Context, lease *Lease) (*Lease, error) {
	value, err := lease.Attrs.marshal()
	if err != nil {
		return nil, err
	}
	rev := lease.Revision
	for {
		l, err := m.write(ctx, lease.Subnet, lease.Attrs, value, rev)
		switch {
		case err == nil:
			return l, nil
		case errors.Is(err, store.ErrNotFound) && rev != 0:
			rev = 0 // expired: take it again if nobody else has
			continue
		case errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrConflict):
			kv, gerr := m.store.Get(ctx, m.LeaseKey(lease.Subnet))
			if errors.Is(gerr, store.ErrNotFound) {
				rev = 0
				continue
			}
			if gerr != nil {
				return nil, fmt.Errorf("renew lease %s: %w", m.LeaseKey(lease.Subnet), gerr)
			}
			cur, perr := m.parseLease(kv.Key, kv.Value, kv.ModRevision)
			if perr != nil || cur.Attrs.PublicIP != lease.Attrs.PublicIP {
				return nil, fmt.Errorf("renew lease %s: %w", m.LeaseKey(lease.Subnet), ErrLeaseLost)
			}
			rev = kv.ModRevision // still ours, written by an earlier life of this node
			continue
		default:
			return nil, err
		}
	}
}

// Release deletes lease, giving its subnet back. Nodes normally keep their
// lease across restarts and let it expire when they are gone for good.
func (m *SubnetManager) Release(ctx context.Context, lease *Lease) error {
	if _, err := m.store.Delete(ctx, m.LeaseKey(lease.Subnet), lease.Revision); err != nil {
		return fmt.Errorf("release lease %s: %w", m.LeaseKey(lease.Subnet), err)
	}
	return nil
}

// LeaseEventType says what happened to a lease.
type LeaseEventType int

const (
	// LeaseAdded: a lease was created or changed; Lease is its new state.
	LeaseAdded LeaseEventType = iota + 1
	// LeaseRemoved: a lease was deleted or expired; Lease is its last state.
	LeaseRemoved
)

func (t LeaseEventType) String() string {
	switch t {
	case LeaseAdded:
		return "added"
	case LeaseRemoved:
		return "removed"
	}
	return "unknown"
}

// LeaseEvent is one change to the leases.
type LeaseEvent struct {
	Type  LeaseEventType
	Lease Lease
}

// Watch streams the changes to the leases after revision afterRevision (the
// revision returned by Leases). Turn its events into lease events with
// Event. The channel closes when ctx is done or the watch fails (see
// store.Store.Watch); the caller lists again and watches anew.
func (m *SubnetManager) Watch(ctx context.Context, afterRevision int64) (<-chan store.Event, error) {
	ch, err := m.store.Watch(ctx, m.SubnetsPrefix(), afterRevision)
	if err != nil {
		return nil, fmt.Errorf("watch leases under %s: %w", m.SubnetsPrefix(), err)
	}
	return ch, nil
}

// Event converts a store event from Watch into a lease event. It returns an
// error for an EventError (the watch has failed) and for a key or value that
// is not a lease (to be skipped).
func (m *SubnetManager) Event(ev store.Event) (LeaseEvent, error) {
	switch ev.Type {
	case store.EventCreate, store.EventUpdate:
		l, err := m.parseLease(ev.Key, ev.Value, ev.Revision)
		return LeaseEvent{Type: LeaseAdded, Lease: l}, err
	case store.EventDelete:
		l, err := m.parseLease(ev.Key, ev.PrevValue, ev.Revision)
		return LeaseEvent{Type: LeaseRemoved, Lease: l}, err
	case store.EventError:
		return LeaseEvent{}, fmt.Errorf("watch leases under %s: %w", m.SubnetsPrefix(), ev.Err)
	}
	return LeaseEvent{}, fmt.Errorf("watch leases under %s: unknown event type %v", m.SubnetsPrefix(), ev.Type)
}
