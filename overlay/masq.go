package overlay

import (
	"fmt"
	"net/netip"

	"github.com/coreos/go-iptables/iptables"

	"github.com/gantryhq/gantry/internal/netnsutil"
)

// DefaultMasqChain is the nat chain of the masquerade rules.
const DefaultMasqChain = "GANTRY-OVERLAY"

// multicast is 224.0.0.0/4, never masqueraded.
var multicast = netip.MustParsePrefix("224.0.0.0/4")

// masq manages the masquerade rules of one node: a chain in the nat table,
// jumped to from POSTROUTING, that lets traffic inside the cluster network
// keep its pod source address and masquerades the rest of what leaves the
// node's pod subnet, except multicast. iptables runs inside the node's
// network namespace.
type masq struct {
	nsPath string
	chain  string
}

// jumpRule is the POSTROUTING rule that sends traffic to the chain.
func (m masq) jumpRule() []string {
	return []string{"-m", "comment", "--comment", "gantry overlay masquerade", "-j", m.chain}
}

// rules are the chain's rules for a node with subnet in network.
func (m masq) rules(ipt *iptables.IPTables, network, subnet netip.Prefix) [][]string {
	masquerade := []string{"-s", subnet.String(), "-m", "comment", "--comment", "gantry overlay: leaving the cluster network", "-j", "MASQUERADE"}
	if ipt.HasRandomFully() {
		masquerade = append(masquerade, "--random-fully")
	}
	return [][]string{
		{"-s", network.String(), "-d", network.String(), "-m", "comment", "--comment", "gantry overlay: inside the cluster network", "-j", "RETURN"},
		{"-s", subnet.String(), "-d", multicast.String(), "-m", "comment", "--comment", "gantry overlay: multicast", "-j", "RETURN"},
		masquerade,
	}
}

// ensure installs the chain with the rules for subnet, replacing its
// previous rules, and the jump to it.
func (m masq) ensure(network, subnet netip.Prefix) error {
	return netnsutil.Do(m.nsPath, func() error {
		ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(30))
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		// ClearChain creates the chain when it is missing.
		if err := ipt.ClearChain("nat", m.chain); err != nil {
			return fmt.Errorf("iptables chain nat/%s: %w", m.chain, err)
		}
		for _, r := range m.rules(ipt, network, subnet) {
			if err := ipt.Append("nat", m.chain, r...); err != nil {
				return fmt.Errorf("iptables chain nat/%s: %w", m.chain, err)
			}
		}
		if err := ipt.AppendUnique("nat", "POSTROUTING", m.jumpRule()...); err != nil {
			return fmt.Errorf("iptables chain nat/POSTROUTING: jump to %s: %w", m.chain, err)
		}
		return nil
	})
}

// remove deletes the jump and the chain; missing ones are not an error.
func (m masq) remove() error {
	return netnsutil.Do(m.nsPath, func() error {
		ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(30))
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		// A jump to a missing chain cannot exist (and iptables refuses to
		// even look for one).
		exists, err := ipt.ChainExists("nat", m.chain)
		if err != nil {
			return fmt.Errorf("iptables chain nat/%s: %w", m.chain, err)
		}
		if !exists {
			return nil
		}
		if err := ipt.DeleteIfExists("nat", "POSTROUTING", m.jumpRule()...); err != nil {
			return fmt.Errorf("iptables chain nat/POSTROUTING: jump to %s: %w", m.chain, err)
		}
		if err := ipt.ClearAndDeleteChain("nat", m.chain); err != nil {
			return fmt.Errorf("iptables chain nat/%s: %w", m.chain, err)
		}
		return nil
	})
}
