package iptables

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
)

// chainNames are the fixed chains of one proxier, named from its prefix.
type chainNames struct {
	prefix string
	// nat
	services, nodePorts, postrouting, markMasq string
	// filter
	filterServices, externalServices, forward string
}

func newChainNames(prefix string) chainNames {
	return chainNames{
		prefix:           prefix,
		services:         prefix + "-SERVICES",
		nodePorts:        prefix + "-NODEPORTS",
		postrouting:      prefix + "-POSTROUTING",
		markMasq:         prefix + "-MARK-MASQ",
		filterServices:   prefix + "-SERVICES",
		externalServices: prefix + "-EXTERNAL-SERVICES",
		forward:          prefix + "-FORWARD",
	}
}

// hashName is a chain name from kind and a stable hash of key; iptables
// limits chain names to 28 characters, so the hash is cut to what is left.
func (c chainNames) hashName(kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	enc := base32.StdEncoding.EncodeToString(sum[:])
	name := c.prefix + "-" + kind + "-"
	return name + enc[:min(16, 28-len(name))]
}

func portKey(n proxy.ServicePortName) string { return n.String() }

func (c chainNames) svcChain(n proxy.ServicePortName) string { return c.hashName("SVC", portKey(n)) }
func (c chainNames) extChain(n proxy.ServicePortName) string { return c.hashName("EXT", portKey(n)) }
func (c chainNames) sepChain(n proxy.ServicePortName, ep proxy.Endpoint) string {
	return c.hashName("SEP", portKey(n)+"|"+ep.AddrPort().String())
}

// serviceChains are the per-service chains of sp in the nat table.
func (c chainNames) serviceChains(sp *proxy.ServicePort) []string {
	if len(sp.Endpoints) == 0 {
		return nil
	}
	out := []string{c.svcChain(sp.Name)}
	if hasExternal(sp) {
		out = append(out, c.extChain(sp.Name))
	}
	for _, ep := range sp.Endpoints {
		out = append(out, c.sepChain(sp.Name, ep))
	}
	return out
}

func hasExternal(sp *proxy.ServicePort) bool { return sp.NodePort != 0 || len(sp.ExternalIPs) > 0 }

// renderer writes iptables-restore input. Its methods append to the
// buffers; the result is nat then filter, each with its own COMMIT.
type renderer struct {
	names chainNames
	opts  *Options
	mark  string // "0x4000/0x4000"

	natChains, natRules       bytes.Buffer
	filterChains, filterRules bytes.Buffer
	rules                     int
}

func (r *renderer) natChain(name string) {
	fmt.Fprintf(&r.natChains, ":%s - [0:0]\n", name)
}

func (r *renderer) nat(format string, args ...any) {
	fmt.Fprintf(&r.natRules, format, args...)
	r.natRules.WriteByte('\n')
	r.rules++
}

func (r *renderer) filter(format string, args ...any) {
	fmt.Fprintf(&r.filterRules, format, args...)
	r.filterRules.WriteByte('\n')
	r.rules++
}

// base writes the fixed chains: the masquerade machinery, the node port
// dispatch at the end of SERVICES, and the filter table's forward rules.
// The per-service rules of SERVICES and NODEPORTS come from service.
func (r *renderer) base() {
	n := r.names
	for _, c := range []string{n.services, n.nodePorts, n.postrouting, n.markMasq} {
		r.natChain(c)
	}
	for _, c := range []string{n.filterServices, n.externalServices, n.forward} {
		fmt.Fprintf(&r.filterChains, ":%s - [0:0]\n", c)
	}
	r.nat("-A %s -m mark ! --mark %s -j RETURN", n.postrouting, r.mark)
	r.nat("-A %s -j MARK --xor-mark %s", n.postrouting, r.maskBit())
	r.nat("-A %s -m comment --comment \"service traffic requiring SNAT\" -j MASQUERADE%s", n.postrouting, r.randomFully())
	r.nat("-A %s -j MARK --or-mark %s", n.markMasq, r.maskBit())

	r.filter("-A %s -m comment --comment \"service traffic marked for masquerade\" -m mark --mark %s -j ACCEPT", n.forward, r.mark)
	r.filter("-A %s -m comment --comment \"replies of service traffic\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", n.forward)
}

// nodePortDispatch ends SERVICES: after every cluster IP and external IP
// rule, traffic to a node address goes on to NODEPORTS.
func (r *renderer) nodePortDispatch() {
	n := r.names
	const comment = "-m comment --comment \"node ports; must stay after the cluster IP rules\""
	for _, dst := range r.nodePortDests() {
		r.nat("-A %s %s %s -j %s", n.services, dst, comment, n.nodePorts)
	}
}

// nodePortDests are the destination matches of node port traffic: every
// local address, or those in --nodeport-addresses.
func (r *renderer) nodePortDests() []string {
	if len(r.opts.NodePortAddresses) == 0 {
		return []string{"-m addrtype --dst-type LOCAL"}
	}
	out := make([]string, len(r.opts.NodePortAddresses))
	for i, p := range r.opts.NodePortAddresses {
		out[i] = "-d " + p.Masked().String()
	}
	return out
}

func (r *renderer) maskBit() string { return r.mark[:strings.IndexByte(r.mark, '/')] }

func (r *renderer) randomFully() string {
	if r.opts.randomFully {
		return " --random-fully"
	}
	return ""
}

// protoArgs returns the protocol match and the destination port match of
// p, written around the comment as iptables-save prints them.
func protoArgs(p v1.Protocol, port int32) (proto, dport string) {
	l := strings.ToLower(string(p))
	return "-p " + l, "-m " + l + " --dport " + strconv.Itoa(int(port))
}

// service writes the rules of one service port. withChains says whether
// its own chains (SVC, EXT, SEP) are written too; on a partial sync they
// are only for changed services, while the dispatch rules in SERVICES,
// NODEPORTS and the filter chains are always written for every service.
// It returns how many rules it wrote into the service's own chains.
func (r *renderer) service(sp *proxy.ServicePort, withChains bool) (chainRules int) {
	n := r.names
	name := sp.Name.String()
	proto, dport := protoArgs(sp.Name.Protocol, sp.Port)
	_, nodePort := protoArgs(sp.Name.Protocol, sp.NodePort)

	if len(sp.Endpoints) == 0 {
		// No endpoints: reject new connections at once rather than let
		// them time out.
		reject := "REJECT --reject-with icmp-port-unreachable"
		r.filter("-A %s -d %s/32 %s -m comment --comment \"%s has no endpoints\" %s -j %s",
			n.filterServices, sp.ClusterIP, proto, name, dport, reject)
		for _, ip := range sp.ExternalIPs {
			r.filter("-A %s -d %s/32 %s -m comment --comment \"%s has no endpoints\" %s -j %s",
				n.externalServices, ip, proto, name, dport, reject)
		}
		if sp.NodePort != 0 {
			for _, dst := range r.nodePortDests() {
				r.filter("-A %s %s %s -m comment --comment \"%s has no endpoints\" %s -j %s",
					n.externalServices, dst, proto, name, nodePort, reject)
			}
		}
		return 0
	}

	svc := n.svcChain(sp.Name)
	r.nat("-A %s -d %s/32 %s -m comment --comment \"%s cluster IP\" %s -j %s",
		n.services, sp.ClusterIP, proto, name, dport, svc)
	ext := ""
	if hasExternal(sp) {
		ext = n.extChain(sp.Name)
		for _, ip := range sp.ExternalIPs {
			r.nat("-A %s -d %s/32 %s -m comment --comment \"%s external IP\" %s -j %s",
				n.services, ip, proto, name, dport, ext)
		}
		if sp.NodePort != 0 {
			r.nat("-A %s %s -m comment --comment \"%s\" %s -j %s", n.nodePorts, proto, name, nodePort, ext)
		}
	}
	if !withChains {
		return 0
	}
	start := r.rules

	r.natChain(svc)
	switch {
	case r.opts.MasqueradeAll:
		r.nat("-A %s -d %s/32 %s -m comment --comment \"%s cluster IP\" %s -j %s",
			svc, sp.ClusterIP, proto, name, dport, n.markMasq)
	case r.opts.ClusterCIDR.IsValid():
		r.nat("-A %s ! -s %s -d %s/32 %s -m comment --comment \"%s cluster IP\" %s -j %s",
			svc, r.opts.ClusterCIDR, sp.ClusterIP, proto, name, dport, n.markMasq)
	}
	if ext != "" {
		// Traffic from outside the cluster is masqueraded so that replies
		// come back through this node.
		r.natChain(ext)
		r.nat("-A %s -m comment --comment \"masquerade traffic for %s external destinations\" -j %s", ext, name, n.markMasq)
		r.nat("-A %s -j %s", ext, svc)
	}

	seps := make([]string, len(sp.Endpoints))
	for i, ep := range sp.Endpoints {
		seps[i] = n.sepChain(sp.Name, ep)
	}
	affinity := ""
	if sp.AffinityTimeout > 0 {
		affinity = strconv.Itoa(int(sp.AffinityTimeout.Seconds()))
		for i, ep := range sp.Endpoints {
			r.nat("-A %s -m comment --comment \"%s -> %s\" -m recent --name %s --mask 255.255.255.255 --rsource --rcheck --seconds %s --reap -j %s",
				svc, name, ep.AddrPort(), seps[i], affinity, seps[i])
		}
	}
	for i, ep := range sp.Endpoints {
		left := len(sp.Endpoints) - i
		if left > 1 {
			r.nat("-A %s -m comment --comment \"%s -> %s\" -m statistic --mode random --probability %s -j %s",
				svc, name, ep.AddrPort(), probability(left), seps[i])
		} else {
			r.nat("-A %s -m comment --comment \"%s -> %s\" -j %s", svc, name, ep.AddrPort(), seps[i])
		}
	}
	for i, ep := range sp.Endpoints {
		sep := seps[i]
		r.natChain(sep)
		// Hairpin: an endpoint reaching its own service is masqueraded so
		// that the reply goes back through the NAT.
		r.nat("-A %s -s %s/32 -m comment --comment \"%s\" -j %s", sep, ep.Addr, name, n.markMasq)
		set := ""
		if affinity != "" {
			set = fmt.Sprintf(" -m recent --name %s --mask 255.255.255.255 --rsource --set", sep)
		}
		r.nat("-A %s %s -m comment --comment \"%s\"%s -j DNAT --to-destination %s", sep, proto, name, set, ep.AddrPort())
	}
	return r.rules - start
}

// probability is the chance that the first of n remaining endpoints is
// chosen, so that each of them ends up with 1/n.
func probability(n int) string {
	return strconv.FormatFloat(1/float64(n), 'f', 10, 64)
}

// deleteChain writes the removal of a nat chain: declaring it flushes it,
// then -X deletes it. References to it must be gone in the same restore.
func (r *renderer) deleteChain(name string) {
	r.natChain(name)
	fmt.Fprintf(&r.natRules, "-X %s\n", name)
}

// hook writes the insertion of a missing hook at the top of its built-in
// chain; the proxier's chains it jumps to are declared in the same input.
func (r *renderer) hook(h hook) {
	buf := &r.natRules
	if h.table == "filter" {
		buf = &r.filterRules
	}
	fmt.Fprintf(buf, "-I %s 1 %s\n", h.chain, h.restoreArgs())
}

// bytes returns the iptables-restore input.
func (r *renderer) bytes() []byte {
	var b bytes.Buffer
	b.Grow(r.natChains.Len() + r.natRules.Len() + r.filterChains.Len() + r.filterRules.Len() + 32)
	b.WriteString("*filter\n")
	b.Write(r.filterChains.Bytes())
	b.Write(r.filterRules.Bytes())
	b.WriteString("COMMIT\n*nat\n")
	b.Write(r.natChains.Bytes())
	b.Write(r.natRules.Bytes())
	b.WriteString("COMMIT\n")
	return b.Bytes()
}
