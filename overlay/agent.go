package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/overlay/internal/host"
	"github.com/gantryhq/gantry/store"
)

// Options configure an Agent. Store and Backend are required; the zero value
// of every other field is a usable default.
type Options struct {
	// Store holds the network configuration and the leases of all nodes.
	Store store.Store
	// Backend programs the data plane. The agent owns it from New on and
	// closes it when Run returns.
	Backend Backend
	// Prefix is the key prefix of the network; DefaultPrefix if empty.
	Prefix string
	// Namespace is the path of the node's network namespace (for example
	// /var/run/netns/node1); "" means the process's own. The backend must
	// be configured for the same namespace.
	Namespace string
	// Bridge is the name of the pod bridge; DefaultBridge if empty.
	Bridge string
	// SubnetFile is where subnet.env is written; DefaultSubnetFile if empty.
	// The subnet in an existing file is asked for again when the node has
	// no lease any more.
	SubnetFile string
	// IPMasq installs the masquerade rules for traffic that leaves the
	// cluster network.
	IPMasq bool
	// AcceptForward accepts forwarded traffic from and to the cluster
	// network ahead of the FORWARD chain's other rules, for nodes whose
	// FORWARD policy is DROP (Docker sets it so). The filter chain is
	// MasqChain + "-FWD".
	AcceptForward bool
	// MasqChain is the nat chain of the masquerade rules; DefaultMasqChain
	// if empty. Give agents that share a network namespace their own.
	MasqChain string
	// LeaseTTL is the lifetime of the node's lease; DefaultLeaseTTL if 0.
	LeaseTTL time.Duration
	// RenewMargin is how long before its expiry the lease is renewed; one
	// hour, or half of LeaseTTL when that is shorter, if 0.
	RenewMargin time.Duration
	// RetryInterval is how soon a failed peer update is tried again; 1s if 0.
	RetryInterval time.Duration
	// Clock drives lease renewal and retries; the real clock if nil. Give the
	// store the same clock (store/memory's Options.Clock) in tests.
	Clock clock.Clock
	// Logger receives what the agent does and the errors it retries; nil
	// means slog.Default().
	Logger *slog.Logger
}

func (o *Options) complete() error {
	if o.Store == nil {
		return errors.New("overlay: Options.Store is required")
	}
	if o.Backend == nil {
		return errors.New("overlay: Options.Backend is required")
	}
	if o.Bridge == "" {
		o.Bridge = DefaultBridge
	}
	if len(o.Bridge) > 15 || strings.ContainsAny(o.Bridge, "/ ") {
		return fmt.Errorf("overlay: bridge name %q is not a valid interface name", o.Bridge)
	}
	if o.SubnetFile == "" {
		o.SubnetFile = DefaultSubnetFile
	}
	if o.MasqChain == "" {
		o.MasqChain = DefaultMasqChain
	}
	if len(o.MasqChain) > 24 {
		return fmt.Errorf("overlay: chain name %q is longer than 24 characters (iptables allows 28, and the forwarding chain adds -FWD)", o.MasqChain)
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.RenewMargin == 0 {
		o.RenewMargin = min(time.Hour, o.LeaseTTL/2)
	}
	if o.LeaseTTL < 0 || o.RenewMargin < 0 || o.RenewMargin >= o.LeaseTTL {
		return fmt.Errorf("overlay: RenewMargin %v must be positive and shorter than LeaseTTL %v", o.RenewMargin, o.LeaseTTL)
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = time.Second
	}
	if o.RetryInterval < 0 {
		return fmt.Errorf("overlay: negative RetryInterval %v", o.RetryInterval)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Agent is the overlay on one node: it leases the node's subnet, sets up
// the pod bridge, the backend, the masquerade rules and subnet.env, renews
// the lease, and keeps the data plane in step with the other nodes' leases.
//
// Run does the work and blocks; Subnet, MTU and Ready may be called from
// other goroutines at any time. When Run returns, the data plane stays (so
// that pods keep their connectivity while the agent restarts); Cleanup
// removes it.
type Agent struct {
	opts    Options
	subnets *SubnetManager
	log     *slog.Logger
	ready   chan struct{}
	started atomic.Bool // Run was called
	active  atomic.Bool // Run has not returned yet

	mu    sync.Mutex
	lease *Lease // the node's current lease, nil before Run got one
	mtu   int
	cfg   *Config

	// peers is the reconciler of the peers' leases, used by Run only.
	peers *peers
}

// New validates opts and returns an agent; it touches neither the store
// nor the data plane.
func New(opts Options) (*Agent, error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	sm, err := NewSubnetManager(SubnetManagerOptions{Store: opts.Store, Prefix: opts.Prefix, TTL: opts.LeaseTTL, Now: opts.Clock.Now})
	if err != nil {
		return nil, err
	}
	return &Agent{opts: opts, subnets: sm, log: opts.Logger, ready: make(chan struct{})}, nil
}

// Subnets is the agent's subnet manager.
func (a *Agent) Subnets() *SubnetManager { return a.subnets }

// Ready is closed once the node's data plane is up and subnet.env written.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Subnet is the node's leased subnet; the zero Prefix before Ready.
func (a *Agent) Subnet() netip.Prefix {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lease == nil {
		return netip.Prefix{}
	}
	return a.lease.Subnet
}

// Lease is a copy of the node's current lease; nil before Ready.
func (a *Agent) Lease() *Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lease == nil {
		return nil
	}
	l := *a.lease
	return &l
}

// MTU is the MTU of the pod network; 0 before Ready.
func (a *Agent) MTU() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mtu
}

// SubnetFile is the path of the subnet.env file the agent writes.
func (a *Agent) SubnetFile() string { return a.opts.SubnetFile }

// Run waits for the network configuration if it is not in the store yet,
// sets up the node's side of the overlay, then follows the leases until
// ctx is done, when it returns nil. It returns an error when the setup
// fails, and one wrapping ErrLeaseLost when the node's subnet went to
// another node. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("overlay: agent already ran")
	}
	a.active.Store(true)
	defer a.active.Store(false)
	defer a.opts.Backend.Close()
	if err := a.setup(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	err := a.follow(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// setup leases the subnet and brings up the node's data plane.
func (a *Agent) setup(ctx context.Context) error {
	cfg, err := a.subnets.Config(ctx)
	if errors.Is(err, ErrNoConfig) {
		a.log.Info("overlay: waiting for the network configuration", "key", a.subnets.ConfigKey())
		cfg, err = a.subnets.WaitConfig(ctx)
	}
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	be := a.opts.Backend
	if cfg.Backend.Type != be.Type() {
		return fmt.Errorf("overlay: the network %s uses backend %q, the agent has %q", cfg.Network, cfg.Backend.Type, be.Type())
	}
	attrs, err := be.Init(ctx, cfg)
	if err != nil {
		return fmt.Errorf("overlay: backend %s: %w", be.Type(), err)
	}
	var prefer netip.Prefix
	if env, err := ReadSubnetEnv(a.opts.SubnetFile); err == nil && env.Subnet.IsValid() {
		prefer = env.Subnet.Masked()
	}
	lease, err := a.subnets.Acquire(ctx, cfg, attrs, AcquireOptions{Prefer: prefer})
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	a.log.Info("overlay: leased subnet", "subnet", lease.Subnet, "publicIP", lease.Attrs.PublicIP, "backend", be.Type())
	if err := be.Start(ctx, lease); err != nil {
		return fmt.Errorf("overlay: backend %s: start %s: %w", be.Type(), lease.Subnet, err)
	}
	mtu := be.MTU()
	h, err := host.Open(a.opts.Namespace)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	err = ensureBridge(h, a.opts.Bridge, BridgeAddr(lease.Subnet), mtu)
	h.Close()
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	if err := host.SetSysctl(a.opts.Namespace, "net/ipv4/ip_forward", "1"); err != nil {
		return fmt.Errorf("overlay: enable forwarding: %w", err)
	}
	m := masq{nsPath: a.opts.Namespace, chain: a.opts.MasqChain}
	if a.opts.IPMasq {
		err = m.ensure(cfg.Network, lease.Subnet)
	} else {
		err = m.remove()
	}
	if err != nil {
		return fmt.Errorf("overlay: masquerade rules: %w", err)
	}
	fwd := forward{nsPath: a.opts.Namespace, chain: a.opts.MasqChain + "-FWD"}
	if a.opts.AcceptForward {
		err = fwd.ensure(cfg.Network)
	} else {
		err = fwd.remove()
	}
	if err != nil {
		return fmt.Errorf("overlay: forwarding rules: %w", err)
	}
	env := SubnetEnv{Network: cfg.Network, Subnet: BridgeAddr(lease.Subnet), MTU: mtu, IPMasq: a.opts.IPMasq}
	if err := WriteSubnetEnv(a.opts.SubnetFile, env); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	a.mu.Lock()
	a.lease, a.mtu, a.cfg = lease, mtu, cfg
	a.mu.Unlock()
	a.peers = newPeers(be, lease.Subnet, a.log)
	close(a.ready)
	return nil
}

// follow renews the lease and follows the peers' leases until ctx is done
// or the lease is lost.
func (a *Agent) follow(ctx context.Context) error {
	clk := a.opts.Clock
	lease := a.Lease()
	renew := clk.NewTimer(a.renewIn(lease))
	defer renew.Stop()
	retry := &retrier{clock: clk, min: a.opts.RetryInterval, max: maxRetryInterval}
	defer retry.stop()
	pruned := false
	for ctx.Err() == nil {
		leases, rev, err := a.subnets.Leases(ctx)
		if err != nil {
			a.log.Error("overlay: list leases", "err", err)
			if !a.wait(ctx, a.opts.RetryInterval) {
				return nil
			}
			continue
		}
		a.peers.reset(leases)
		if !pruned {
			// Peers that left while the agent was away left routes behind.
			if err := a.pruneRoutes(); err != nil {
				a.log.Warn("overlay: removing routes of departed peers", "err", err)
			}
			pruned = true
		}
		wctx, cancel := context.WithCancel(ctx)
		events, err := a.subnets.Watch(wctx, rev)
		if err != nil {
			cancel()
			a.log.Error("overlay: watch leases", "err", err)
			if !a.wait(ctx, a.opts.RetryInterval) {
				return nil
			}
			continue
		}
		err = a.watchLoop(ctx, events, renew, retry)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// pruneRoutes deletes the routes the overlay owns into the network that
// lead to subnets no current lease has: those of peers that left while the
// agent was not running. (A VXLAN device's neighbour and forwarding entries
// for them are harmless without a route and go with the device.)
func (a *Agent) pruneRoutes() error {
	h, err := host.Open(a.opts.Namespace)
	if err != nil {
		return err
	}
	defer h.Close()
	routes, err := host.OwnedRoutes(h)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	own := a.Subnet()
	var errs []error
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(r.Dst.IP.To4())
		ones, _ := r.Dst.Mask.Size()
		dst := netip.PrefixFrom(ip, ones)
		if !a.cfg.Network.Contains(ip) || dst == own || a.peers.wants(dst) {
			continue
		}
		if err := host.DelRoute(h, &r); err != nil {
			errs = append(errs, fmt.Errorf("delete route to %s: %w", dst, err))
			continue
		}
		a.log.Info("overlay: removed the route of a departed peer", "subnet", dst)
	}
	return errors.Join(errs...)
}

// watchLoop handles the events of one watch until it ends (nil: list again)
// or the lease is lost (error).
func (a *Agent) watchLoop(ctx context.Context, events <-chan store.Event, renew clock.Timer, retry *retrier) error {
	for {
		if err := a.peers.apply(ctx); err != nil {
			if retry.arm() {
				a.log.Warn("overlay: peers not all programmed, retrying", "err", err, "in", retry.delay)
			}
		} else {
			retry.reset()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-retry.c():
			retry.fired()
		case <-renew.C():
			if err := a.renew(ctx); err != nil {
				return err
			}
			renew.Reset(a.renewIn(a.Lease()))
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			le, err := a.subnets.Event(ev)
			if ev.Type == store.EventError {
				a.log.Warn("overlay: lease watch ended, listing again", "err", err)
				return nil
			}
			if err != nil {
				a.log.Warn("overlay: ignoring a key that is not a lease", "key", ev.Key, "err", err)
				continue
			}
			own := a.Lease()
			if le.Lease.Subnet == own.Subnet {
				if le.Type == LeaseAdded && le.Lease.Attrs.PublicIP != own.Attrs.PublicIP {
					return fmt.Errorf("overlay: subnet %s now belongs to %s: %w", own.Subnet, le.Lease.Attrs.PublicIP, ErrLeaseLost)
				}
				if le.Type == LeaseRemoved {
					a.log.Warn("overlay: own lease gone, renewing now", "subnet", own.Subnet)
					if err := a.renew(ctx); err != nil {
						return err
					}
					renew.Reset(a.renewIn(a.Lease()))
				}
				continue
			}
			a.peers.event(le)
		}
	}
}

// maxRetryInterval caps the backoff of retries of peer changes.
const maxRetryInterval = 30 * time.Second

// retrier schedules retries of failed peer changes on the agent's clock,
// doubling the delay from min up to max while they keep failing.
type retrier struct {
	clock    clock.Clock
	min, max time.Duration
	delay    time.Duration // of the armed or last timer; 0 after a success
	timer    clock.Timer   // nil when not armed
}

// arm starts the timer unless it runs; it reports whether it started it.
func (r *retrier) arm() bool {
	if r.timer != nil {
		return false
	}
	r.delay = min(max(2*r.delay, r.min), r.max)
	r.timer = r.clock.NewTimer(r.delay)
	return true
}

// c is the channel of the armed timer, nil (never ready) when none is.
func (r *retrier) c() <-chan time.Time {
	if r.timer == nil {
		return nil
	}
	return r.timer.C()
}

// fired marks the timer as spent.
func (r *retrier) fired() { r.timer = nil }

// reset forgets the backoff after a success.
func (r *retrier) reset() {
	r.stop()
	r.delay = 0
}

func (r *retrier) stop() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// renew renews the node's lease.
func (a *Agent) renew(ctx context.Context) error {
	l, err := a.subnets.Renew(ctx, a.Lease())
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return fmt.Errorf("overlay: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		// The store is unreachable: keep the old lease and try again soon.
		a.log.Error("overlay: renew lease", "err", err)
		return nil
	}
	a.mu.Lock()
	a.lease = l
	a.mu.Unlock()
	a.log.Debug("overlay: renewed lease", "subnet", l.Subnet, "expires", l.Expiration)
	return nil
}

// renewIn is how long from now lease is to be renewed; a renewal that
// failed leaves the expiration in the past, which retries after
// RetryInterval.
func (a *Agent) renewIn(lease *Lease) time.Duration {
	d := lease.Expiration.Add(-a.opts.RenewMargin).Sub(a.opts.Clock.Now())
	if d <= 0 {
		return a.opts.RetryInterval
	}
	return d
}

// wait waits for d on the agent's clock; false when ctx ended first.
func (a *Agent) wait(ctx context.Context, d time.Duration) bool {
	t := a.opts.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// Cleanup removes the node's data plane: the backend's devices, routes,
// neighbour and forwarding entries, the pod bridge, the masquerade rules and
// subnet.env. It reads the network configuration from the store, and works
// without Run having been called (for example after a crash). The lease is
// kept: call Subnets().Release to give the subnet back. It fails while Run
// is running. IP forwarding, which Run turns on, stays on.
func (a *Agent) Cleanup(ctx context.Context) error {
	if a.active.Load() {
		return errors.New("overlay: cleanup while the agent runs")
	}
	a.mu.Lock()
	cfg := a.cfg
	a.mu.Unlock()
	if cfg == nil {
		c, err := a.subnets.Config(ctx)
		if err != nil {
			return fmt.Errorf("overlay: cleanup: %w", err)
		}
		cfg = c
	}
	var errs []error
	if err := a.opts.Backend.Cleanup(ctx, cfg); err != nil {
		errs = append(errs, fmt.Errorf("backend %s: %w", a.opts.Backend.Type(), err))
	}
	h, err := host.Open(a.opts.Namespace)
	if err != nil {
		errs = append(errs, err)
	} else {
		if err := deleteBridge(h, a.opts.Bridge); err != nil {
			errs = append(errs, err)
		}
		h.Close()
	}
	if err := (masq{nsPath: a.opts.Namespace, chain: a.opts.MasqChain}).remove(); err != nil {
		errs = append(errs, fmt.Errorf("masquerade rules: %w", err))
	}
	if err := (forward{nsPath: a.opts.Namespace, chain: a.opts.MasqChain + "-FWD"}).remove(); err != nil {
		errs = append(errs, fmt.Errorf("forwarding rules: %w", err))
	}
	if err := os.Remove(a.opts.SubnetFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := a.opts.Backend.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("overlay: cleanup: %w", err)
	}
	return nil
}
