package iptables

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"

	goiptables "github.com/coreos/go-iptables/iptables"

	"github.com/gantryhq/gantry/proxy"
)

// DefaultChainPrefix names the chains as kube-proxy's: KUBE-SERVICES,
// KUBE-SVC-..., KUBE-SEP-...
const DefaultChainPrefix = "KUBE"

// Options configure a Proxier.
type Options struct {
	// ChainPrefix starts the name of every chain the proxier owns; it
	// must be unique among the proxiers sharing a network namespace.
	// Empty means DefaultChainPrefix. At most 8 characters.
	ChainPrefix string
	// ClusterCIDR is the pod network (--cluster-cidr): traffic to a
	// cluster IP from outside it is masqueraded. Optional.
	ClusterCIDR netip.Prefix
	// MasqueradeAll masquerades all traffic to cluster IPs
	// (--masquerade-all).
	MasqueradeAll bool
	// NodePortAddresses limit node ports to these ranges
	// (--nodeport-addresses); empty means every local address.
	NodePortAddresses []netip.Prefix
	// MasqueradeBit is the packet mark bit for masquerading (0-31);
	// zero means 14, kube-proxy's default.
	MasqueradeBit int
	// Command is the iptables variant: "iptables" (the default: whatever
	// the host's alternatives point at, nf_tables on Debian 12),
	// "iptables-nft" or "iptables-legacy". The proxier runs it and its
	// -save and -restore companions. Use the variant the host's other
	// users of iptables (Docker) use.
	Command string

	// randomFully is set by New when iptables supports --random-fully.
	randomFully bool
}

var prefixRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{0,7}$`)

// Proxier programs services as NAT rules with iptables, the way the seeds
// show kube-proxy doing it: per-service chains choosing an endpoint with
// the statistic module, per-endpoint DNAT chains, hooks from PREROUTING
// and OUTPUT. Every sync is one atomic `iptables-restore --noflush`; a sync
// after a change rewrites the dispatch chains and only the chains of the
// services that changed. Safe for concurrent use (calls are serialised).
type Proxier struct {
	opts  Options
	names chainNames
	ipt   *goiptables.IPTables

	mu sync.Mutex
	// prev is the state of the last successful sync; nil forces a full
	// sync that starts from the rules actually present.
	prev *proxy.State
	// chains are the per-service nat chains present after the last sync;
	// chainRules the number of rules in each service's chains, and rules
	// the total (RuleCount).
	chains     map[string]struct{}
	chainRules map[proxy.ServicePortName]int
	rules      int

	// run executes a command with stdin; tests replace it.
	run func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
}

var _ proxy.Proxier = (*Proxier)(nil)

// New validates opts and returns a Proxier. It checks that iptables is
// installed; it changes nothing until the first Sync.
func New(opts Options) (*Proxier, error) {
	if opts.ChainPrefix == "" {
		opts.ChainPrefix = DefaultChainPrefix
	}
	if !prefixRE.MatchString(opts.ChainPrefix) {
		return nil, fmt.Errorf("iptables proxier: chain prefix %q: want 1-8 upper-case letters or digits, starting with a letter", opts.ChainPrefix)
	}
	if opts.MasqueradeBit == 0 {
		opts.MasqueradeBit = 14
	}
	if opts.MasqueradeBit < 0 || opts.MasqueradeBit > 31 {
		return nil, fmt.Errorf("iptables proxier: masquerade bit %d out of range 0-31", opts.MasqueradeBit)
	}
	if opts.ClusterCIDR.IsValid() {
		opts.ClusterCIDR = opts.ClusterCIDR.Masked()
	}
	if opts.Command == "" {
		opts.Command = "iptables"
	}
	if !slices.Contains([]string{"iptables", "iptables-nft", "iptables-legacy"}, opts.Command) {
		return nil, fmt.Errorf("iptables proxier: command %q: want iptables, iptables-nft or iptables-legacy", opts.Command)
	}
	path, err := exec.LookPath(opts.Command)
	if err != nil {
		return nil, fmt.Errorf("iptables proxier: %w (install Debian's iptables package)", err)
	}
	for _, tool := range []string{opts.Command + "-save", opts.Command + "-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("iptables proxier: %w", err)
		}
	}
	ipt, err := goiptables.New(goiptables.Path(path))
	if err != nil {
		return nil, fmt.Errorf("iptables proxier: %w", err)
	}
	opts.randomFully = ipt.HasRandomFully()
	return &Proxier{
		opts:   opts,
		names:  newChainNames(opts.ChainPrefix),
		ipt:    ipt,
		chains: map[string]struct{}{},
		run:    runCommand,
	}, nil
}

func runCommand(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (p *Proxier) mark() string {
	bit := uint32(1) << p.opts.MasqueradeBit
	return fmt.Sprintf("%#x/%#x", bit, bit)
}

// RuleCount is the number of rules the last sync left in the proxier's
// chains.
func (p *Proxier) RuleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rules
}

// Sync makes the rules match state; see proxy.Proxier.
func (p *Proxier) Sync(ctx context.Context, state *proxy.State) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.sync(ctx, state)
	if err != nil {
		p.prev = nil // start over from what is present
	}
	return err
}

func (p *Proxier) sync(ctx context.Context, state *proxy.State) error {
	full := p.prev == nil
	var changed []*proxy.ServicePort
	var removed []proxy.ServicePortName
	if !full {
		changed, removed = proxy.Diff(p.prev, state)
		// A sync without changes is the periodic one: repair everything.
		full = len(changed) == 0 && len(removed) == 0
	}
	var missingHooks []hook
	if full {
		present, missing, err := p.inspect(ctx)
		if err != nil {
			return err
		}
		p.chains, missingHooks = present, missing
	}

	r, want, chainRules, carried := p.render(state, full, changed)
	for _, h := range missingHooks {
		r.hook(h)
	}
	// Delete the per-service chains no longer wanted.
	var stale []string
	for c := range p.chains {
		if _, ok := want[c]; !ok {
			stale = append(stale, c)
		}
	}
	slices.Sort(stale)
	for _, c := range stale {
		r.deleteChain(c)
	}
	if _, err := p.run(ctx, r.bytes(), p.opts.Command+"-restore", "--wait", "--noflush"); err != nil {
		return fmt.Errorf("iptables proxier: sync %d services: %w", len(state.Services), err)
	}
	if err := p.clearConntrack(ctx, state); err != nil {
		return err
	}
	p.chains, p.chainRules = want, chainRules
	p.prev = state
	p.rules = r.rules + carried
	return nil
}

// render writes the restore input for state. On a full sync every chain is
// written; otherwise the dispatch chains and the chains of changed
// services. want is every per-service chain state needs, chainRules the
// rule count of each service's chains, and carried the rules of the chains
// left as they were (not in r).
func (p *Proxier) render(state *proxy.State, full bool, changed []*proxy.ServicePort) (r *renderer, want map[string]struct{}, chainRules map[proxy.ServicePortName]int, carried int) {
	r = &renderer{names: p.names, opts: &p.opts, mark: p.mark()}
	r.base()
	write := make(map[proxy.ServicePortName]bool, len(changed))
	for _, sp := range changed {
		write[sp.Name] = true
	}
	want = make(map[string]struct{}, len(p.chains)+len(changed)*3)
	chainRules = make(map[proxy.ServicePortName]int, len(state.Services))
	for _, sp := range state.Services {
		if full || write[sp.Name] {
			chainRules[sp.Name] = r.service(sp, true)
		} else {
			r.service(sp, false)
			chainRules[sp.Name] = p.chainRules[sp.Name]
			carried += chainRules[sp.Name]
		}
		for _, c := range p.names.serviceChains(sp) {
			want[c] = struct{}{}
		}
	}
	r.nodePortDispatch()
	return r, want, chainRules, carried
}

// inspect reads the nat and filter tables (one iptables-save each): the
// per-service chains of this proxier present in nat, to adopt what an
// earlier process left, and the hooks missing from the built-in chains.
// A full sync thus costs two reads of the tables however many services
// there are, instead of one iptables call per hook.
func (p *Proxier) inspect(ctx context.Context) (chains map[string]struct{}, missing []hook, err error) {
	chains = map[string]struct{}{}
	for _, table := range []string{"nat", "filter"} {
		out, err := p.run(ctx, nil, p.opts.Command+"-save", "-t", table)
		if err != nil {
			return nil, nil, fmt.Errorf("iptables proxier: %w", err)
		}
		if table == "nat" {
			for _, c := range p.ownChains(out) {
				if p.isServiceChain(c) {
					chains[c] = struct{}{}
				}
			}
		}
		for _, h := range p.hooks() {
			if h.table == table && !hasHook(out, h) {
				missing = append(missing, h)
			}
		}
	}
	return chains, missing, nil
}

// hasHook reports whether iptables-save output holds hook h: a rule in its
// built-in chain with its comment and target.
func hasHook(save []byte, h hook) bool {
	prefix := "-A " + h.chain + " "
	comment := `--comment "` + h.comment() + `"`
	suffix := "-j " + h.target()
	sc := bufio.NewScanner(bytes.NewReader(save))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, suffix) && strings.Contains(line, comment) {
			return true
		}
	}
	return false
}

func (p *Proxier) isServiceChain(c string) bool {
	for _, k := range []string{"-SVC-", "-EXT-", "-SEP-"} {
		if strings.HasPrefix(c, p.opts.ChainPrefix+k) {
			return true
		}
	}
	return false
}

// ownChains returns the chains declared in iptables-save output whose
// names start with this proxier's prefix.
func (p *Proxier) ownChains(save []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(save))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	prefix := ":" + p.opts.ChainPrefix + "-"
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		name, _, _ := strings.Cut(line[1:], " ")
		out = append(out, name)
	}
	return out
}

// hook is a jump from a built-in chain into one of the proxier's.
type hook struct {
	table, chain string
	args         []string
}

// target is the chain the hook jumps to (its args end with -j target).
func (h hook) target() string { return h.args[len(h.args)-1] }

// comment is the hook's comment.
func (h hook) comment() string {
	for i, a := range h.args {
		if a == "--comment" && i+1 < len(h.args) {
			return h.args[i+1]
		}
	}
	return ""
}

// restoreArgs is the hook's rule as iptables-restore reads it (the comment
// quoted).
func (h hook) restoreArgs() string {
	parts := make([]string, len(h.args))
	for i, a := range h.args {
		if i > 0 && h.args[i-1] == "--comment" {
			a = `"` + a + `"`
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}

func (p *Proxier) hooks() []hook {
	n := p.names
	comment := func(s string) []string { return []string{"-m", "comment", "--comment", s} }
	newConn := []string{"-m", "conntrack", "--ctstate", "NEW"}
	jump := func(table, chain, target string, pre []string, c string) hook {
		args := append(append(slices.Clone(pre), comment(c)...), "-j", target)
		return hook{table, chain, args}
	}
	return []hook{
		jump("nat", "PREROUTING", n.services, nil, "service portals"),
		jump("nat", "OUTPUT", n.services, nil, "service portals"),
		jump("nat", "POSTROUTING", n.postrouting, nil, "service postrouting rules"),
		jump("filter", "INPUT", n.externalServices, newConn, "external services without endpoints"),
		jump("filter", "FORWARD", n.externalServices, newConn, "external services without endpoints"),
		jump("filter", "FORWARD", n.filterServices, newConn, "services without endpoints"),
		jump("filter", "OUTPUT", n.filterServices, newConn, "services without endpoints"),
		jump("filter", "FORWARD", n.forward, nil, "service forwarding rules"),
	}
}

// Cleanup removes the hooks and every chain whose name starts with the
// proxier's prefix, in the nat and filter tables.
func (p *Proxier) Cleanup(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prev = nil
	p.chains = map[string]struct{}{}
	p.rules, p.chainRules = 0, nil
	var errs []error
	for _, h := range p.hooks() {
		// A jump to a chain that is gone cannot exist (and iptables
		// cannot even check for it).
		if ok, err := p.ipt.ChainExists(h.table, h.target()); err != nil || !ok {
			continue
		}
		if err := p.ipt.DeleteIfExists(h.table, h.chain, h.args...); err != nil {
			errs = append(errs, fmt.Errorf("iptables proxier: remove hook %s/%s: %w", h.table, h.chain, err))
		}
	}
	var in bytes.Buffer
	for _, table := range []string{"filter", "nat"} {
		out, err := p.run(ctx, nil, p.opts.Command+"-save", "-t", table)
		if err != nil {
			errs = append(errs, fmt.Errorf("iptables proxier: %w", err))
			continue
		}
		chains := p.ownChains(out)
		if len(chains) == 0 {
			continue
		}
		fmt.Fprintf(&in, "*%s\n", table)
		for _, c := range chains {
			fmt.Fprintf(&in, ":%s - [0:0]\n", c)
		}
		for _, c := range chains {
			fmt.Fprintf(&in, "-X %s\n", c)
		}
		in.WriteString("COMMIT\n")
	}
	if in.Len() > 0 {
		if _, err := p.run(ctx, in.Bytes(), p.opts.Command+"-restore", "--wait", "--noflush"); err != nil {
			errs = append(errs, fmt.Errorf("iptables proxier: cleanup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// clearConntrack removes the UDP flows the change from the last synced
// state to state left stuck (see proxy.StaleUDPFlows).
func (p *Proxier) clearConntrack(ctx context.Context, state *proxy.State) error {
	err := proxy.ClearStaleUDPFlows(ctx, p.prev, state, func(ctx context.Context, args ...string) error {
		_, err := p.run(ctx, nil, "conntrack", args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("iptables proxier: %w", err)
	}
	return nil
}
