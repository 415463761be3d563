package overlay

import (
	"fmt"
	"net/netip"

	"github.com/coreos/go-iptables/iptables"

	"github.com/gantryhq/gantry/internal/netnsutil"
)

// forward manages the filter rules that let the cluster network through
// the FORWARD chain of a node whose policy is DROP (Docker sets it so): a
// chain accepting traffic from and to the cluster network, jumped to first
// from FORWARD.
type forward struct {
	nsPath string
	chain  string
}

func (f forward) jumpRule() []string {
	return []string{"-m", "comment", "--comment", "gantry overlay forwarding", "-j", f.chain}
}

// ensure installs the chain for network, replacing its previous rules, and
// the jump to it at the top of FORWARD.
func (f forward) ensure(network netip.Prefix) error {
	return netnsutil.Do(f.nsPath, func() error {
		ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(30))
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		if err := ipt.ClearChain("filter", f.chain); err != nil {
			return fmt.Errorf("iptables chain filter/%s: %w", f.chain, err)
		}
		for _, r := range [][]string{
			{"-s", network.String(), "-m", "comment", "--comment", "gantry overlay: from the cluster network", "-j", "ACCEPT"},
			{"-d", network.String(), "-m", "comment", "--comment", "gantry overlay: to the cluster network", "-j", "ACCEPT"},
		} {
			if err := ipt.Append("filter", f.chain, r...); err != nil {
				return fmt.Errorf("iptables chain filter/%s: %w", f.chain, err)
			}
		}
		ok, err := ipt.Exists("filter", "FORWARD", f.jumpRule()...)
		if err != nil {
			return fmt.Errorf("iptables chain filter/FORWARD: %w", err)
		}
		if !ok {
			if err := ipt.Insert("filter", "FORWARD", 1, f.jumpRule()...); err != nil {
				return fmt.Errorf("iptables chain filter/FORWARD: jump to %s: %w", f.chain, err)
			}
		}
		return nil
	})
}

// remove deletes the jump and the chain; missing ones are not an error.
func (f forward) remove() error {
	return netnsutil.Do(f.nsPath, func() error {
		ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(30))
		if err != nil {
			return fmt.Errorf("iptables: %w", err)
		}
		exists, err := ipt.ChainExists("filter", f.chain)
		if err != nil || !exists {
			return err
		}
		if err := ipt.DeleteIfExists("filter", "FORWARD", f.jumpRule()...); err != nil {
			return fmt.Errorf("iptables chain filter/FORWARD: jump to %s: %w", f.chain, err)
		}
		if err := ipt.ClearAndDeleteChain("filter", f.chain); err != nil {
			return fmt.Errorf("iptables chain filter/%s: %w", f.chain, err)
		}
		return nil
	})
}
