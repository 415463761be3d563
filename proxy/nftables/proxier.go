package nftables

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"

	"github.com/gantryhq/gantry/proxy"
)

// DefaultTableName is the table the proxier owns: "ip gantry".
const DefaultTableName = "gantry"

// Options configure a Proxier.
type Options struct {
	// TableName is the nftables table (family ip) the proxier owns; it
	// must be unique among the proxiers sharing a network namespace.
	// Empty means DefaultTableName. Letters, digits, '-' and '_', at
	// most 32 characters.
	TableName string
	// ClusterCIDR is the pod network (--cluster-cidr): traffic to a
	// cluster IP from outside it is masqueraded. Optional.
	ClusterCIDR netip.Prefix
	// MasqueradeAll masquerades all traffic to cluster IPs
	// (--masquerade-all).
	MasqueradeAll bool
	// NodePortAddresses limit node ports to these IPv4 ranges
	// (--nodeport-addresses); empty means every local address.
	NodePortAddresses []netip.Prefix
	// MasqueradeBit is the packet mark bit for masquerading (0-31);
	// zero means 14, kube-proxy's default.
	MasqueradeBit int
	// NodeName is the node the proxier runs on. Optional: when set, only
	// endpoints on this node (or on an unknown one) go into the hairpin
	// set, since only they can reach themselves through this node's
	// rules; on a big cluster that is most of the set's elements saved.
	NodeName string
}

var tableNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

// Proxier programs services into one nftables table over netlink; see the
// package documentation for the table's structure. Every sync is one
// netlink batch (one transaction); after the first, a sync only sends
// what changed. Safe for concurrent use (calls are serialised).
//
// On a node that also runs Docker, Docker's FORWARD policy DROP (in the
// iptables filter table, which with iptables-nft is another nftables
// table) still applies to forwarded service traffic: the accept rules in
// this table's filter-forward chain cannot override it. Such nodes need
// accepts in that table too, for example
//
//	iptables -I DOCKER-USER -m mark --mark 0x4000/0x4000 -j ACCEPT
//	iptables -I DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//	iptables -I DOCKER-USER -s <cluster CIDR> -j ACCEPT
//
// (what the iptables backend's KUBE-FORWARD chain does).
type Proxier struct {
	opts Options

	mu sync.Mutex
	// prev is the state of the last successful sync; nil forces a full
	// sync that rebuilds the table.
	prev *proxy.State
	// hairpin counts the endpoints (of all service ports) at each
	// address: the addresses in the hairpin set.
	hairpin map[netip.Addr]int
	// slots are the service ports' slots in the endpoints maps (see
	// slotSize); free are slots released by removed services, nextSlot
	// the first never used.
	slots    map[proxy.ServicePortName]uint32
	free     []uint32
	nextSlot uint32
	// maps is how many endpoints maps the table has.
	maps uint32
	// count is RuleCount.
	count int

	// run executes a command; tests replace it.
	run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

var _ proxy.Proxier = (*Proxier)(nil)

// New validates opts and returns a Proxier. It checks that the conntrack
// tool is installed (for clearing UDP flows); it changes nothing until the
// first Sync.
func New(opts Options) (*Proxier, error) {
	if opts.TableName == "" {
		opts.TableName = DefaultTableName
	}
	if !tableNameRE.MatchString(opts.TableName) {
		return nil, fmt.Errorf("nftables proxier: table name %q: want up to 32 letters, digits, '-' or '_', starting with a letter", opts.TableName)
	}
	if opts.MasqueradeBit == 0 {
		opts.MasqueradeBit = 14
	}
	if opts.MasqueradeBit < 0 || opts.MasqueradeBit > 31 {
		return nil, fmt.Errorf("nftables proxier: masquerade bit %d out of range 0-31", opts.MasqueradeBit)
	}
	if opts.ClusterCIDR.IsValid() {
		if !opts.ClusterCIDR.Addr().Is4() {
			return nil, fmt.Errorf("nftables proxier: cluster CIDR %s: only IPv4 is supported", opts.ClusterCIDR)
		}
		opts.ClusterCIDR = opts.ClusterCIDR.Masked()
	}
	opts.NodePortAddresses = slices.Clone(opts.NodePortAddresses)
	for i, p := range opts.NodePortAddresses {
		if !p.IsValid() || !p.Addr().Is4() {
			return nil, fmt.Errorf("nftables proxier: node port address %s: want an IPv4 prefix", p)
		}
		opts.NodePortAddresses[i] = p.Masked()
	}
	if _, err := exec.LookPath("conntrack"); err != nil {
		return nil, fmt.Errorf("nftables proxier: %w", err)
	}
	return &Proxier{opts: opts, hairpin: map[netip.Addr]int{}, slots: map[proxy.ServicePortName]uint32{}, run: runCommand}, nil
}

func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// TableName is the table the proxier owns.
func (p *Proxier) TableName() string { return p.opts.TableName }

// RuleCount is the number of rules and map elements the last sync left in
// the table (affinity pins, which packets add, are not counted).
func (p *Proxier) RuleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// Sync makes the table match state; see proxy.Proxier.
func (p *Proxier) Sync(ctx context.Context, state *proxy.State) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.sync(ctx, state)
	if err != nil {
		p.prev = nil // rebuild next time
	}
	return err
}

func (p *Proxier) sync(ctx context.Context, state *proxy.State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := newBatchConn()
	if err != nil {
		return fmt.Errorf("nftables proxier: %w", err)
	}
	if p.prev == nil {
		return p.fullSync(ctx, c, state)
	}
	changed, removed := proxy.Diff(p.prev, state)
	if len(changed) == 0 && len(removed) == 0 {
		// The periodic sync: rebuild if the table was removed or
		// changed behind our back.
		if shape, err := p.tableShape(); err != nil || shape != p.expectedShape(state) {
			return p.fullSync(ctx, c, state)
		}
		p.prev = state
		return nil
	}
	return p.incrementalSync(ctx, c, state, changed, removed)
}

// tableShape is a cheap fingerprint of the table: its use count (how many
// chains and sets it holds) and the number of rules in each fixed chain.
// It changes when the table is deleted, when chains or sets are added or
// deleted, and when the fixed chains are changed; not when a service
// chain's rules or a map's elements are (a full sync after an error or a
// restart repairs those).
type tableShape struct {
	use   uint32
	rules [len(fixedChains)]int
}

var fixedChains = [...]string{chainNATPrerouting, chainNATOutput, chainNATPostrouting, chainServices,
	chainFilterInput, chainFilterForward, chainFilterOutput, chainReject}

func (p *Proxier) tableShape() (tableShape, error) {
	var shape tableShape
	c, err := nftables.New()
	if err != nil {
		return shape, err
	}
	t, err := c.ListTableOfFamily(p.opts.TableName, nftables.TableFamilyIPv4)
	if err != nil {
		return shape, err
	}
	// The library decodes the use count in host byte order; the kernel
	// sends it in network byte order.
	shape.use = binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, t.Use))
	for i, name := range fixedChains {
		rules, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			return shape, fmt.Errorf("chain %s: %w", name, err)
		}
		shape.rules[i] = len(rules)
	}
	return shape, nil
}

// expectedShape is the tableShape a sync of state leaves.
func (p *Proxier) expectedShape(state *proxy.State) tableShape {
	addrs := max(1, len(p.opts.NodePortAddresses))
	masq := 0
	if p.opts.MasqueradeAll || p.opts.ClusterCIDR.IsValid() {
		masq = 1
	}
	shape := tableShape{
		use: uint32(len(fixedChains)+len(fixedSets())) + p.maps,
		// In the order of fixedChains.
		rules: [len(fixedChains)]int{1, 1, 3, masq + 1 + addrs, 1 + addrs, 3, 1, 1},
	}
	for _, sp := range state.Services {
		o := objectsOf(sp)
		if o.service {
			shape.use++
		}
		if o.external {
			shape.use++
		}
		shape.use += uint32(len(o.affinity))
	}
	return shape
}

// fullSync deletes and recreates the table in one batch.
func (p *Proxier) fullSync(ctx context.Context, c *batchConn, state *proxy.State) error {
	b := newBatch(c, &p.opts)
	// Adding the table first makes the deletion succeed when it is absent.
	c.AddTable(b.table)
	c.DelTable(b.table)
	if err := b.base(state); err != nil {
		return fmt.Errorf("nftables proxier: %w", err)
	}
	count := p.baseCount()
	hairpin := map[netip.Addr]int{}
	slots := make(map[proxy.ServicePortName]uint32, len(state.Services))
	maps := mapsFor(uint32(len(state.Services)))
	if err := b.addEndpointMaps(0, maps); err != nil {
		return fmt.Errorf("nftables proxier: %w", err)
	}
	for i, sp := range state.Services {
		slots[sp.Name] = uint32(i)
		if err := b.addServiceObjects(nil, sp); err != nil {
			return fmt.Errorf("nftables proxier: service %q: %w", sp.Name, err)
		}
	}
	for _, sp := range state.Services {
		els, err := serviceElements(sp, slots[sp.Name])
		if err == nil {
			err = b.serviceRules(nil, sp, slots[sp.Name])
		}
		if err != nil {
			return fmt.Errorf("nftables proxier: service %q: %w", sp.Name, err)
		}
		b.add(els...)
		count += p.serviceCount(sp)
		for _, ep := range sp.Endpoints {
			if p.mayHairpin(ep) {
				hairpin[ep.Addr]++
			}
		}
	}
	hp := make([]element, 0, len(hairpin))
	for a := range hairpin {
		hp = append(hp, element{set: setHairpin, key: addrPairKey(a)})
	}
	b.add(hp...)
	count += len(hairpin)
	b.flushAdds()
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables proxier: full sync of %d services: %w", len(state.Services), err)
	}
	cerr := p.clearConntrack(ctx, p.prev, state)
	p.prev, p.hairpin, p.count = state, hairpin, count
	p.slots, p.free, p.nextSlot, p.maps = slots, nil, uint32(len(state.Services)), maps
	return cerr
}

func sortedAddrs(m map[netip.Addr]int) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// incrementalSync applies the difference to the previous state in one
// batch: element deletions, chain flushes and deletions, new objects, new
// rules, element additions, in that order (so nothing is deleted while
// referenced and nothing referenced before it exists).
func (p *Proxier) incrementalSync(ctx context.Context, c *batchConn, state *proxy.State, changed []*proxy.ServicePort, removed []proxy.ServicePortName) error {
	b := newBatch(c, &p.opts)
	type change struct{ old, cur *proxy.ServicePort }
	changes := make([]change, 0, len(changed)+len(removed))
	for _, n := range removed {
		changes = append(changes, change{old: p.prev.Lookup(n)})
	}
	for _, sp := range changed {
		changes = append(changes, change{old: p.prev.Lookup(sp.Name), cur: sp})
	}
	count := p.count
	hairpinDelta := map[netip.Addr]int{}
	for _, ch := range changes {
		name := serviceName(ch.old, ch.cur)
		if ch.old == nil {
			// A new service takes a free slot. (After an error the
			// next sync is a full one, which renumbers every slot.)
			p.slots[name] = p.allocSlot()
		}
		slot := p.slots[name]
		oldEls, err := serviceElements(ch.old, slot)
		if err != nil {
			return fmt.Errorf("nftables proxier: service %q: %w", name, err)
		}
		curEls, err := serviceElements(ch.cur, slot)
		if err != nil {
			return fmt.Errorf("nftables proxier: service %q: %w", name, err)
		}
		for _, e := range oldEls {
			if !slices.Contains(curEls, e) {
				b.del(e)
			}
		}
		for _, e := range curEls {
			if !slices.Contains(oldEls, e) {
				b.add(e)
			}
		}
		if ch.old != nil {
			count -= p.serviceCount(ch.old)
			for _, ep := range ch.old.Endpoints {
				if p.mayHairpin(ep) {
					hairpinDelta[ep.Addr]--
				}
			}
		}
		if ch.cur != nil {
			count += p.serviceCount(ch.cur)
			for _, ep := range ch.cur.Endpoints {
				if p.mayHairpin(ep) {
					hairpinDelta[ep.Addr]++
				}
			}
		}
	}
	hairpin := make(map[netip.Addr]int, len(hairpinDelta))
	for _, a := range sortedAddrs(hairpinDelta) {
		before := p.hairpin[a]
		after := before + hairpinDelta[a]
		hairpin[a] = after
		e := element{set: setHairpin, key: addrPairKey(a)}
		switch {
		case before > 0 && after == 0:
			b.del(e)
			count--
		case before == 0 && after > 0:
			b.add(e)
			count++
		}
	}

	// The table first: a batch of element changes alone still has a
	// message of the library's (see batchConn.Flush).
	c.AddTable(b.table)
	b.flushDeletes()
	for _, ch := range changes {
		if ch.old != nil {
			b.flushServiceObjects(ch.old, ch.cur)
		}
	}
	for _, ch := range changes {
		if ch.old != nil {
			b.deleteServiceObjects(ch.old, ch.cur)
		}
	}
	maps := max(p.maps, mapsFor(p.nextSlot))
	if err := b.addEndpointMaps(p.maps, maps); err != nil {
		return fmt.Errorf("nftables proxier: %w", err)
	}
	for _, ch := range changes {
		if ch.cur != nil {
			if err := b.addServiceObjects(ch.old, ch.cur); err != nil {
				return fmt.Errorf("nftables proxier: service %q: %w", ch.cur.Name, err)
			}
		}
	}
	for _, ch := range changes {
		if ch.cur != nil {
			if err := b.serviceRules(ch.old, ch.cur, p.slots[ch.cur.Name]); err != nil {
				return fmt.Errorf("nftables proxier: service %q: %w", ch.cur.Name, err)
			}
		}
	}
	b.flushAdds()
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables proxier: sync %d changed and %d removed services (first %q): %w",
			len(changed), len(removed), serviceName(changes[0].old, changes[0].cur), err)
	}
	cerr := p.clearConntrack(ctx, p.prev, state)
	for _, n := range removed {
		p.free = append(p.free, p.slots[n])
		delete(p.slots, n)
	}
	for a, n := range hairpin {
		if n == 0 {
			delete(p.hairpin, a)
		} else {
			p.hairpin[a] = n
		}
	}
	p.prev, p.count, p.maps = state, count, maps
	return cerr
}

// mayHairpin reports whether ep can connect to itself through this node:
// whether its address belongs in the hairpin set.
func (p *Proxier) mayHairpin(ep proxy.Endpoint) bool {
	return p.opts.NodeName == "" || ep.NodeName == "" || ep.NodeName == p.opts.NodeName
}

// mapsFor is how many endpoints maps n slots need.
func mapsFor(n uint32) uint32 { return (n + slotsPerMap - 1) / slotsPerMap }

// allocSlot returns a free slot of the service-endpoints map.
func (p *Proxier) allocSlot() uint32 {
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		return s
	}
	p.nextSlot++
	return p.nextSlot - 1
}

func serviceName(old, cur *proxy.ServicePort) proxy.ServicePortName {
	if cur != nil {
		return cur.Name
	}
	return old.Name
}

// Cleanup deletes the proxier's table, and with it everything the proxier
// added. Deleting a table that is absent is not an error.
func (p *Proxier) Cleanup(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prev, p.count = nil, 0
	p.hairpin = map[netip.Addr]int{}
	c, err := newBatchConn()
	if err != nil {
		return fmt.Errorf("nftables proxier: %w", err)
	}
	t := &nftables.Table{Name: p.opts.TableName, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables proxier: delete table ip %s: %w", p.opts.TableName, err)
	}
	return nil
}

// clearConntrack removes the UDP flows the change from prev to state left
// stuck (see proxy.StaleUDPFlows).
func (p *Proxier) clearConntrack(ctx context.Context, prev, state *proxy.State) error {
	err := proxy.ClearStaleUDPFlows(ctx, prev, state, func(ctx context.Context, args ...string) error {
		_, err := p.run(ctx, "conntrack", args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("nftables proxier: %w", err)
	}
	return nil
}
