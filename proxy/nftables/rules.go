package nftables

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
)

// Registers (linux/netfilter/nf_tables.h). Register 1 is 16 bytes wide and
// overlaps the 32-bit registers 8 to 11; a concatenated key loaded into
// register 1 puts each component in the next 32-bit register, padded to 4
// bytes, which is also how set keys of concatenated types are laid out.
const (
	regVerdict = 0
	reg1       = 1  // 32-bit register 8 and up
	reg2       = 2  // 32-bit register 12 and up
	reg1Word1  = 9  // second 4 bytes of reg1
	reg1Word2  = 10 // third 4 bytes of reg1
)

// Constants x/sys/unix lacks.
const (
	ipsDstNAT           = 0x20 // IPS_DST_NAT: ct status dnat
	icmpPortUnreachable = 3    // ICMP_PORT_UNREACH
)

// The fixed objects of the table.
const (
	chainNATPrerouting  = "nat-prerouting"
	chainNATOutput      = "nat-output"
	chainNATPostrouting = "nat-postrouting"
	chainServices       = "services"
	chainFilterInput    = "filter-input"
	chainFilterForward  = "filter-forward"
	chainFilterOutput   = "filter-output"
	chainReject         = "reject-chain"

	mapServiceIPs         = "service-ips"
	mapServiceNodePorts   = "service-nodeports"
	mapNoEndpointServices = "no-endpoint-services"
	mapNoEndpointNodePort = "no-endpoint-nodeports"
	setHairpin            = "hairpin"
)

// Key and data types of the maps.
var (
	// ip daddr . meta l4proto . th dport
	typeAddrProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	// meta l4proto . th dport
	typeProtoPort = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	// an endpoint: address . port
	typeEndpoint = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	// ip saddr . ip daddr
	typeAddrPair = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr)
)

// Endpoints are elements of maps shared by groups of service ports,
// endpoints-0, endpoints-1, ...: each service port has a slot, and slot s
// owns the keys from (s % slotsPerMap) * slotSize on in map
// endpoints-<s / slotsPerMap>. Its chain picks one of its N endpoints with
//
//	dnat ip to numgen random mod N offset K map @endpoints-M
//
// Neither one map per service nor one map for all scales in the kernel
// (measured on Linux 6.x): it finds a named set by walking the list of
// the table's sets (and binds every anonymous set by walking the whole
// transaction), which makes a map per service quadratic in a full sync;
// and it checks every element added to a map against every rule that
// reads data from it, and every such rule added against every element,
// which makes one shared map quadratic. Groups of slotsPerMap bound both
// walks: 10,000 services make 313 maps of 32 slots.
const (
	slotSize    = 4096
	slotsPerMap = 32
)

// maxEndpoints is the most endpoints one service port may have.
const maxEndpoints = slotSize

// endpointsMap is the map holding slot's endpoints, and the first key of
// the slot.
func endpointsMap(slot uint32) (string, uint32) {
	return fmt.Sprintf("endpoints-%d", slot/slotsPerMap), (slot % slotsPerMap) * slotSize
}

// serviceID names a service port's objects: a short stable hash followed
// by the readable name, e.g. "3mfzvqhe-default/web/http/tcp". The name
// makes it unique (names and ports are DNS labels, without '/'); the hash
// in front spreads the names, so that comparing two of them (which the
// kernel does a lot, see slotsPerMap) ends at once.
func serviceID(n proxy.ServicePortName) string {
	h := fnv.New64a()
	for _, part := range []string{n.Namespace, "/", n.Name, ":", n.Port, "/", string(n.Protocol)} {
		h.Write([]byte(part))
	}
	sum := h.Sum64()
	var b strings.Builder
	b.Grow(10 + len(n.Namespace) + len(n.Name) + len(n.Port) + len(n.Protocol))
	for range 8 {
		b.WriteByte(idAlphabet[sum&31])
		sum >>= 5
	}
	b.WriteByte('-')
	b.WriteString(n.Namespace)
	b.WriteByte('/')
	b.WriteString(n.Name)
	if n.Port != "" {
		b.WriteByte('/')
		b.WriteString(n.Port)
	}
	b.WriteByte('/')
	b.WriteString(strings.ToLower(string(n.Protocol)))
	return b.String()
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func serviceChain(n proxy.ServicePortName) string  { return "service-" + serviceID(n) }
func externalChain(n proxy.ServicePortName) string { return "external-" + serviceID(n) }

// affinitySet names the set of clients pinned to one endpoint of a service
// port; it is named by the endpoint so that pins to endpoints that stay
// survive a change of the others.
func affinitySet(n proxy.ServicePortName, ep proxy.Endpoint) string {
	h := fnv.New32a()
	h.Write([]byte(ep.AddrPort().String()))
	sum := h.Sum32()
	var id [6]byte
	for i := range id {
		id[i] = idAlphabet[sum&31]
		sum >>= 5
	}
	return "affinity-" + string(id[:]) + "-" + serviceID(n)
}

func hasExternal(sp *proxy.ServicePort) bool { return sp.NodePort != 0 || len(sp.ExternalIPs) > 0 }

// protoNum is the IP protocol number of p.
func protoNum(p v1.Protocol) (byte, error) {
	switch p {
	case v1.ProtocolTCP:
		return unix.IPPROTO_TCP, nil
	case v1.ProtocolUDP:
		return unix.IPPROTO_UDP, nil
	case v1.ProtocolSCTP:
		return unix.IPPROTO_SCTP, nil
	}
	return 0, fmt.Errorf("unsupported protocol %q", p)
}

// Keys and data, laid out as the registers hold them: every component
// padded to 4 bytes, addresses and ports in network byte order.

func addrProtoPortKey(a netip.Addr, proto byte, port int32) data {
	d := data{n: 12}
	ip := a.As4()
	copy(d.b[:], ip[:])
	d.b[4] = proto
	binary.BigEndian.PutUint16(d.b[8:], uint16(port))
	return d
}

func protoPortKey(proto byte, port int32) data {
	d := data{n: 8}
	d.b[0] = proto
	binary.BigEndian.PutUint16(d.b[4:], uint16(port))
	return d
}

func endpointKey(ep proxy.Endpoint) data {
	d := data{n: 8}
	ip := ep.Addr.As4()
	copy(d.b[:], ip[:])
	binary.BigEndian.PutUint16(d.b[4:], uint16(ep.Port))
	return d
}

func addrPairKey(a netip.Addr) data {
	d := data{n: 8}
	ip := a.As4()
	copy(d.b[:], ip[:])
	copy(d.b[4:], ip[:])
	return d
}

func nativeKey(v uint32) data {
	d := data{n: 4}
	binary.NativeEndian.PutUint32(d.b[:], v)
	return d
}

// data is a key or a value of at most 12 bytes, held by value (a full
// sync makes hundreds of thousands of them).
type data struct {
	b [12]byte
	n uint8
}

func (d data) bytes() []byte { return d.b[:d.n] }

// native is a 32-bit value in host byte order, as meta mark, ct state,
// fib and numgen put it in a register.
func native(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// element is one element of a named map or set, comparable so that syncs
// can diff them.
type element struct {
	set     string
	key     data
	val     data   // data in a map (n == 0 when none)
	chain   string // goto target in a verdict map
	comment string
}

// serviceElements are the map elements of sp: its cluster IP, external
// IPs and node port lead to its chains, or to reject when it has no
// endpoints; its endpoints are in its slot of an endpoints map (unless
// session affinity picks them).
func serviceElements(sp *proxy.ServicePort, slot uint32) ([]element, error) {
	if sp == nil {
		return nil, nil
	}
	proto, err := protoNum(sp.Name.Protocol)
	if err != nil {
		return nil, err
	}
	if len(sp.Endpoints) > maxEndpoints {
		return nil, fmt.Errorf("%d endpoints; at most %d are supported", len(sp.Endpoints), maxEndpoints)
	}
	// The table is of family ip; proxy.BuildState keeps IPv4 only.
	if !sp.ClusterIP.Is4() {
		return nil, fmt.Errorf("cluster IP %v: only IPv4 is supported", sp.ClusterIP)
	}
	for _, ip := range sp.ExternalIPs {
		if !ip.Is4() {
			return nil, fmt.Errorf("external IP %v: only IPv4 is supported", ip)
		}
	}
	for _, ep := range sp.Endpoints {
		if !ep.Addr.Is4() {
			return nil, fmt.Errorf("endpoint %v: only IPv4 is supported", ep.Addr)
		}
	}
	name := sp.Name.String()
	ipMap, portMap := mapServiceIPs, mapServiceNodePorts
	svc, ext := serviceChain(sp.Name), externalChain(sp.Name)
	if len(sp.Endpoints) == 0 {
		ipMap, portMap = mapNoEndpointServices, mapNoEndpointNodePort
		svc, ext = chainReject, chainReject
	}
	out := []element{{set: ipMap, key: addrProtoPortKey(sp.ClusterIP, proto, sp.Port), chain: svc, comment: name + " cluster IP"}}
	for _, ip := range sp.ExternalIPs {
		out = append(out, element{set: ipMap, key: addrProtoPortKey(ip, proto, sp.Port), chain: ext, comment: name + " external IP"})
	}
	if sp.NodePort != 0 {
		out = append(out, element{set: portMap, key: protoPortKey(proto, sp.NodePort), chain: ext, comment: name + " node port"})
	}
	if sp.AffinityTimeout == 0 {
		m, first := endpointsMap(slot)
		for i, ep := range sp.Endpoints {
			out = append(out, element{set: m, key: nativeKey(first + uint32(i)), val: endpointKey(ep)})
		}
	}
	return out, nil
}

// serviceObjects says which per-service objects sp needs.
type serviceObjects struct {
	service, external bool
	// affinity are the names of the per-endpoint affinity sets.
	affinity []string
}

func objectsOf(sp *proxy.ServicePort) serviceObjects {
	if sp == nil || len(sp.Endpoints) == 0 {
		return serviceObjects{}
	}
	o := serviceObjects{service: true, external: hasExternal(sp)}
	if sp.AffinityTimeout > 0 {
		for _, ep := range sp.Endpoints {
			o.affinity = append(o.affinity, affinitySet(sp.Name, ep))
		}
	}
	return o
}

// serviceCount is how many rules and elements sp adds to the table (for
// RuleCount); it follows what the batch methods below program.
func (p *Proxier) serviceCount(sp *proxy.ServicePort) int {
	n := 1 + len(sp.ExternalIPs) // dispatch elements
	if sp.NodePort != 0 {
		n++
	}
	o := objectsOf(sp)
	if !o.service {
		return n
	}
	e := len(sp.Endpoints)
	if len(o.affinity) > 0 {
		n += 2 * e // a pinned and a choosing rule per endpoint
	} else {
		n += 1 + e // the choosing rule and the endpoints' elements
	}
	if o.external {
		n++
	}
	return n
}

// batch collects the netlink messages of one sync; Flush sends them as one
// transaction.
type batch struct {
	c     *batchConn
	table *nftables.Table
	opts  *Options
	// elements waiting to be added or deleted, by set.
	adds, dels map[string][]element
}

func newBatch(c *batchConn, opts *Options) *batch {
	return &batch{
		c:     c,
		table: &nftables.Table{Name: opts.TableName, Family: nftables.TableFamilyIPv4},
		opts:  opts,
		adds:  map[string][]element{},
		dels:  map[string][]element{},
	}
}

func (b *batch) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: b.table}
}

func (b *batch) named(name string) *nftables.Set {
	return &nftables.Set{Name: name, Table: b.table}
}

func (b *batch) rule(chain, comment string, exprs ...expr.Any) {
	r := &nftables.Rule{Table: b.table, Chain: b.chain(chain), Exprs: exprs}
	if comment != "" {
		r.UserData = userdata.AppendString(nil, userdata.TypeComment, shortComment(comment))
	}
	b.c.AddRule(r)
}

func (b *batch) markBit() uint32 { return 1 << b.opts.MasqueradeBit }

// Expression fragments.

func loadDaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
}

func loadSaddr(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
}

func loadL4Proto(reg uint32) expr.Any { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg} }

// loadDport loads th dport: the destination port sits at offset 2 of the
// TCP, UDP and SCTP headers alike.
func loadDport(reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

// maskNonZero matches when reg & mask != 0 (mask in host byte order).
func maskNonZero(reg uint32, mask uint32) []expr.Any {
	return []expr.Any{
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: native(mask), Xor: native(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: native(0)},
	}
}

// ctStateNew is "ct state new".
func ctStateNew() []expr.Any {
	return append([]expr.Any{&expr.Ct{Register: reg1, Key: expr.CtKeySTATE}}, maskNonZero(reg1, expr.CtStateBitNEW)...)
}

// setMark is "meta mark set meta mark | bit".
func (b *batch) setMark() []expr.Any {
	bit := b.markBit()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native(^bit), Xor: native(bit)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
}

// inPrefix matches when the address at reg is (or, with not, is not) in
// prefix.
func inPrefix(reg uint32, prefix netip.Prefix, not bool) []expr.Any {
	prefix = prefix.Masked()
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-prefix.Bits()))
	if prefix.Bits() == 0 {
		mask = []byte{0, 0, 0, 0}
	}
	net := prefix.Addr().As4()
	op := expr.CmpOpEq
	if not {
		op = expr.CmpOpNeq
	}
	return []expr.Any{
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: reg, Data: net[:]},
	}
}

// nodeAddressMatches are the alternatives matching traffic to a node port
// address: "fib daddr type local", or "ip daddr <prefix>" for each of
// NodePortAddresses.
func (b *batch) nodeAddressMatches() [][]expr.Any {
	if len(b.opts.NodePortAddresses) == 0 {
		return [][]expr.Any{{
			&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native(unix.RTN_LOCAL)},
		}}
	}
	var out [][]expr.Any
	for _, p := range b.opts.NodePortAddresses {
		out = append(out, append([]expr.Any{loadDaddr(reg1)}, inPrefix(reg1, p, false)...))
	}
	return out
}

// dispatchIPs is "ip daddr . meta l4proto . th dport vmap @m".
func dispatchIPs(m string) []expr.Any {
	return []expr.Any{
		loadDaddr(reg1), loadL4Proto(reg1Word1), loadDport(reg1Word2),
		&expr.Lookup{SourceRegister: reg1, DestRegister: regVerdict, IsDestRegSet: true, SetName: m},
	}
}

// dispatchPorts is "meta l4proto . th dport vmap @m".
func dispatchPorts(m string) []expr.Any {
	return []expr.Any{
		loadL4Proto(reg1), loadDport(reg1Word1),
		&expr.Lookup{SourceRegister: reg1, DestRegister: regVerdict, IsDestRegSet: true, SetName: m},
	}
}

// l4protoIs is "meta l4proto <p>", which nft wants before a DNAT to a
// port (so that the listing can be loaded again); it uses reg1.
func l4protoIs(p v1.Protocol) []expr.Any {
	n, _ := protoNum(p)
	return []expr.Any{loadL4Proto(reg1), &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{n}}}
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// base adds the table's fixed sets, chains and rules. The table must be
// empty (a full sync recreates it). The sets are sized for state: see
// setSize.
func (b *batch) base(state *proxy.State) error {
	c := b.c
	c.AddTable(b.table)
	for _, s := range fixedSets() {
		s.Table = b.table
		s.Size = setSize(state, s.Name)
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
	}
	hook := func(name string, typ nftables.ChainType, h *nftables.ChainHook, prio *nftables.ChainPriority) {
		c.AddChain(&nftables.Chain{Name: name, Table: b.table, Type: typ, Hooknum: h, Priority: prio})
	}
	filterPrio := nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 10)
	hook(chainNATPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	hook(chainNATOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	hook(chainNATPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	hook(chainFilterInput, nftables.ChainTypeFilter, nftables.ChainHookInput, filterPrio)
	hook(chainFilterForward, nftables.ChainTypeFilter, nftables.ChainHookForward, filterPrio)
	hook(chainFilterOutput, nftables.ChainTypeFilter, nftables.ChainHookOutput, filterPrio)
	c.AddChain(b.chain(chainServices))
	c.AddChain(b.chain(chainReject))

	goServices := &expr.Verdict{Kind: expr.VerdictJump, Chain: chainServices}
	b.rule(chainNATPrerouting, "", goServices)
	b.rule(chainNATOutput, "", goServices)

	// Traffic to a service from outside the cluster network (or all of
	// it, MasqueradeAll) is marked for masquerading. (External IPs and
	// node ports are marked in their external chains anyway.)
	inServiceIPs := []expr.Any{loadDaddr(reg1), loadL4Proto(reg1Word1), loadDport(reg1Word2), &expr.Lookup{SourceRegister: reg1, SetName: mapServiceIPs}}
	switch {
	case b.opts.MasqueradeAll:
		b.rule(chainServices, "masquerade all service traffic", cat(inServiceIPs, b.setMark())...)
	case b.opts.ClusterCIDR.IsValid():
		b.rule(chainServices, "masquerade service traffic from outside the cluster",
			cat([]expr.Any{loadSaddr(reg1)}, inPrefix(reg1, b.opts.ClusterCIDR, true), inServiceIPs, b.setMark())...)
	}
	// Cluster and external IPs first; only then node ports, so that a
	// cluster IP that is also a local address is never taken for one.
	b.rule(chainServices, "", dispatchIPs(mapServiceIPs)...)
	for _, m := range b.nodeAddressMatches() {
		b.rule(chainServices, "node ports", cat(m, dispatchPorts(mapServiceNodePorts))...)
	}

	// Postrouting: hairpin connections, then marked ones, are
	// masqueraded; the mark is cleared so that it means nothing further
	// on.
	masq := &expr.Masq{FullyRandom: true}
	b.rule(chainNATPostrouting, "hairpin: an endpoint reaching itself through its service",
		cat([]expr.Any{&expr.Ct{Register: reg1, Key: expr.CtKeySTATUS}}, maskNonZero(reg1, ipsDstNAT),
			[]expr.Any{loadSaddr(reg1), loadDaddr(reg1Word1), &expr.Lookup{SourceRegister: reg1, SetName: setHairpin}, masq})...)
	bit := b.markBit()
	b.rule(chainNATPostrouting, "",
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native(bit), Xor: native(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native(0)},
		&expr.Verdict{Kind: expr.VerdictReturn})
	b.rule(chainNATPostrouting, "service traffic requiring SNAT",
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native(^uint32(0)), Xor: native(bit)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
		masq)

	// Services without endpoints: new connections are rejected at once,
	// whether they come from a pod (forward), from the node (output) or
	// to a node port (input).
	for _, ch := range []string{chainFilterInput, chainFilterForward, chainFilterOutput} {
		b.rule(ch, "services without endpoints", cat(ctStateNew(), dispatchIPs(mapNoEndpointServices))...)
	}
	for _, m := range b.nodeAddressMatches() {
		b.rule(chainFilterInput, "node ports without endpoints", cat(ctStateNew(), m, dispatchPorts(mapNoEndpointNodePort))...)
	}
	b.rule(chainFilterForward, "service traffic marked for masquerade",
		cat([]expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1}}, maskNonZero(reg1, bit), []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}})...)
	b.rule(chainFilterForward, "replies of service traffic",
		cat([]expr.Any{&expr.Ct{Register: reg1, Key: expr.CtKeySTATE}}, maskNonZero(reg1, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED),
			[]expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}})...)
	b.rule(chainReject, "", &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable})
	return nil
}

// fixedSets are the sets every table has.
func fixedSets() []*nftables.Set {
	return []*nftables.Set{
		{Name: mapServiceIPs, KeyType: typeAddrProtoPort, IsMap: true, DataType: nftables.TypeVerdict, Concatenation: true,
			Comment: "cluster and external IPs of services with endpoints"},
		{Name: mapServiceNodePorts, KeyType: typeProtoPort, IsMap: true, DataType: nftables.TypeVerdict, Concatenation: true,
			Comment: "node ports of services with endpoints"},
		{Name: mapNoEndpointServices, KeyType: typeAddrProtoPort, IsMap: true, DataType: nftables.TypeVerdict, Concatenation: true,
			Comment: "cluster and external IPs of services without endpoints"},
		{Name: mapNoEndpointNodePort, KeyType: typeProtoPort, IsMap: true, DataType: nftables.TypeVerdict, Concatenation: true,
			Comment: "node ports of services without endpoints"},
		{Name: setHairpin, KeyType: typeAddrPair, Concatenation: true,
			Comment: "endpoint . endpoint: connections from an endpoint to itself"},
	}
}

// setSize is the size of a fixed set for state: twice what it needs, and
// at least minSetSize. The kernel sizes the set's hash table from it
// (growing a hash table element by element is what costs most in a big
// batch) and refuses elements beyond it: a sync that runs into the limit
// fails, and the full sync that follows makes the sets bigger.
func setSize(state *proxy.State, set string) uint32 {
	n := 0
	for _, sp := range state.Services {
		has := len(sp.Endpoints) > 0
		switch set {
		case mapServiceIPs, mapNoEndpointServices:
			if has == (set == mapServiceIPs) {
				n += 1 + len(sp.ExternalIPs)
			}
		case mapServiceNodePorts, mapNoEndpointNodePort:
			if has == (set == mapServiceNodePorts) && sp.NodePort != 0 {
				n++
			}
		case setHairpin:
			n += len(sp.Endpoints) // at most one element each
		}
	}
	return uint32(max(minSetSize, 2*n))
}

const minSetSize = 1 << 16

// baseCount is how many rules base adds.
func (p *Proxier) baseCount() int {
	addrs := max(1, len(p.opts.NodePortAddresses))
	n := 2 + 1 + addrs + 3 + 3 + addrs + 2 + 1
	if p.opts.MasqueradeAll || p.opts.ClusterCIDR.IsValid() {
		n++
	}
	return n
}

// addEndpointMaps creates the endpoints maps from..to-1.
func (b *batch) addEndpointMaps(from, to uint32) error {
	for i := from; i < to; i++ {
		s := &nftables.Set{
			Table: b.table, Name: fmt.Sprintf("endpoints-%d", i),
			KeyType: nftables.TypeMark, KeyByteOrder: binaryutil.NativeEndian, IsMap: true, DataType: typeEndpoint,
			Comment: fmt.Sprintf("endpoints of service slots %d-%d: (slot %% %d) * %d + index : address . port", i*slotsPerMap, (i+1)*slotsPerMap-1, slotsPerMap, slotSize),
		}
		if err := b.c.AddSet(s, nil); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
	}
	return nil
}

// addServiceObjects creates the chains and the affinity map sp needs and
// old (the service port as last synced, or nil) did not have.
func (b *batch) addServiceObjects(old, sp *proxy.ServicePort) error {
	had, want := objectsOf(old), objectsOf(sp)
	if want.service && !had.service {
		b.c.AddChain(b.chain(serviceChain(sp.Name)))
	}
	if want.external && !had.external {
		b.c.AddChain(b.chain(externalChain(sp.Name)))
	}
	for i, name := range want.affinity {
		if slices.Contains(had.affinity, name) {
			continue
		}
		s := &nftables.Set{
			Table: b.table, Name: name, KeyType: nftables.TypeIPAddr,
			HasTimeout: true, Dynamic: true, Size: 65535,
			Comment: shortComment(fmt.Sprintf("clients of %s pinned to %s", sp.Name, sp.Endpoints[i].AddrPort())),
		}
		if err := b.c.AddSet(s, nil); err != nil {
			return err
		}
	}
	return nil
}

// flushServiceObjects empties the chains of old that a sync to sp (nil
// when removed) rewrites or removes. Flushing comes before deleting so
// that no rule still refers to what is deleted.
func (b *batch) flushServiceObjects(old, sp *proxy.ServicePort) {
	had, want := objectsOf(old), objectsOf(sp)
	if had.service && !sameServiceRules(old, sp) {
		b.c.FlushChain(b.chain(serviceChain(old.Name)))
	}
	if had.external && !want.external {
		b.c.FlushChain(b.chain(externalChain(old.Name)))
	}
}

// sameServiceRules reports whether the service chains of old and sp hold
// the same rules, so that a sync changes only elements. Without affinity
// the rule depends only on the number of endpoints (the endpoints are
// elements), so an endpoint replaced by another is two element updates
// and no rule: adding a rule makes the kernel validate the whole table at
// commit, which costs more than the rest of such a sync at 10,000
// services.
func sameServiceRules(old, sp *proxy.ServicePort) bool {
	if old == nil || sp == nil || len(old.Endpoints) == 0 || len(sp.Endpoints) == 0 ||
		old.AffinityTimeout != sp.AffinityTimeout {
		return false
	}
	if sp.AffinityTimeout > 0 {
		return slices.Equal(old.Endpoints, sp.Endpoints)
	}
	return len(old.Endpoints) == len(sp.Endpoints)
}

// deleteServiceObjects deletes the objects of old that sp (nil when
// removed) no longer needs; flushServiceObjects came first.
func (b *batch) deleteServiceObjects(old, sp *proxy.ServicePort) {
	had, want := objectsOf(old), objectsOf(sp)
	if had.external && !want.external {
		b.c.DelChain(b.chain(externalChain(old.Name)))
	}
	if had.service && !want.service {
		b.c.DelChain(b.chain(serviceChain(old.Name)))
	}
	for _, name := range had.affinity {
		if !slices.Contains(want.affinity, name) {
			b.c.DelSet(b.named(name))
		}
	}
}

// serviceRules writes the rules of sp's chains (already empty or new).
// The external chain's rule depends on the names only, so it is written
// only when the chain is new.
func (b *batch) serviceRules(old, sp *proxy.ServicePort, slot uint32) error {
	o := objectsOf(sp)
	if !o.service {
		return nil
	}
	if len(sp.Endpoints) > maxEndpoints {
		return fmt.Errorf("%d endpoints; at most %d are supported", len(sp.Endpoints), maxEndpoints)
	}
	name := sp.Name.String()
	svc := serviceChain(sp.Name)
	if o.external && !objectsOf(old).external {
		// Traffic from outside the cluster is masqueraded so that
		// replies come back through this node.
		b.rule(externalChain(sp.Name), "masquerade traffic for "+name+" external destinations",
			cat(b.setMark(), []expr.Any{&expr.Verdict{Kind: expr.VerdictGoto, Chain: svc}})...)
	}

	if sameServiceRules(old, sp) {
		return nil
	}
	if len(o.affinity) > 0 {
		b.affinityRules(sp, o.affinity)
		return nil
	}
	// Choose an endpoint: a number in the service's slot of its
	// endpoints map, and DNAT to the endpoint it maps to.
	m, first := endpointsMap(slot)
	b.rule(svc, fmt.Sprintf("%s: %d endpoints", name, len(sp.Endpoints)), cat(l4protoIs(sp.Name.Protocol), []expr.Any{
		&expr.Numgen{Register: reg1, Modulus: uint32(len(sp.Endpoints)), Offset: first, Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: m},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg1Word1, Specified: true},
	})...)
	return nil
}

// affinityRules choose endpoints for a service port with ClientIP
// affinity. Each endpoint has a dynamic set of the clients pinned to it
// (with the affinity timeout, refreshed on every new connection). A pinned
// client goes to its endpoint:
//
//	ip saddr @affinity-A update @affinity-A { ip saddr timeout T } dnat to A
//
// and a new one is pinned to an endpoint chosen at random, the first with
// probability 1/N, the next 1/(N-1) of the rest, ..., the last always:
//
//	numgen random mod N 0 update @affinity-A { ip saddr timeout T } dnat to A
func (b *batch) affinityRules(sp *proxy.ServicePort, sets []string) {
	name := sp.Name.String()
	svc := serviceChain(sp.Name)
	to := func(ep proxy.Endpoint, set string) []expr.Any {
		return cat(l4protoIs(sp.Name.Protocol), []expr.Any{
			loadSaddr(reg1),
			&expr.Dynset{SrcRegKey: reg1, SetName: set, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: sp.AffinityTimeout},
			&expr.Immediate{Register: reg1, Data: endpointKey(ep).bytes()[:4]},
			&expr.Immediate{Register: reg2, Data: endpointKey(ep).bytes()[4:6]},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg2, Specified: true},
		})
	}
	for i, ep := range sp.Endpoints {
		b.rule(svc, fmt.Sprintf("%s -> %s pinned", name, ep.AddrPort()),
			cat([]expr.Any{loadSaddr(reg1), &expr.Lookup{SourceRegister: reg1, SetName: sets[i]}}, to(ep, sets[i]))...)
	}
	for i, ep := range sp.Endpoints {
		var choose []expr.Any
		if left := len(sp.Endpoints) - i; left > 1 {
			choose = []expr.Any{
				&expr.Numgen{Register: reg1, Modulus: uint32(left), Type: unix.NFT_NG_RANDOM},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native(0)},
			}
		}
		b.rule(svc, fmt.Sprintf("%s -> %s", name, ep.AddrPort()), cat(choose, to(ep, sets[i]))...)
	}
}

// add queues elements for addition; del for deletion.
func (b *batch) add(els ...element) {
	for _, e := range els {
		s := b.adds[e.set]
		if s == nil {
			s = make([]element, 0, 1024)
		}
		b.adds[e.set] = append(s, e)
	}
}

func (b *batch) del(els ...element) {
	for _, e := range els {
		b.dels[e.set] = append(b.dels[e.set], e)
	}
}

// flushDeletes queues the element deletions to go first in the batch, and
// flushAdds the additions to go last; both in a stable order.
func (b *batch) flushDeletes() { b.c.pre = append(b.c.pre, b.elementMessages(b.dels, true)...) }
func (b *batch) flushAdds()    { b.c.post = append(b.c.post, b.elementMessages(b.adds, false)...) }

func (b *batch) elementMessages(m map[string][]element, del bool) []netlink.Message {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	var msgs []netlink.Message
	for _, name := range names {
		msgs = append(msgs, elementMessages(b.table.Name, name, m[name], del)...)
		delete(m, name)
	}
	return msgs
}
