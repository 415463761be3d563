package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/iptables"
	"github.com/gantryhq/gantry/proxy/nftables"
)

// Service proxy modes of a node (--proxy-mode).
const (
	// ProxyNone runs no service proxy: cluster IPs and node ports do not
	// answer on the node. The default of a NodeConfig, so that nodes in
	// tests leave the host's rules alone.
	ProxyNone = "none"
	// ProxyIPTables programs services as iptables NAT rules
	// (proxy/iptables).
	ProxyIPTables = "iptables"
	// ProxyNFTables programs services as an nftables table with verdict
	// maps (proxy/nftables): built for many services. On a Docker host its
	// forwarded traffic also needs the overlay's forwarding rules
	// (OverlayConfig), since Docker's FORWARD policy is DROP.
	ProxyNFTables = "nftables"
)

// ProxyModes lists the accepted values of NodeConfig.ProxyMode.
var ProxyModes = []string{ProxyIPTables, ProxyNFTables, ProxyNone}

func validProxyMode(m string) error {
	if m == "" || slices.Contains(ProxyModes, m) {
		return nil
	}
	return fmt.Errorf("cluster: proxy mode %q: want one of %s", m, strings.Join(ProxyModes, ", "))
}

// newProxier returns the proxier of cfg's mode, or nil for ProxyNone.
func newProxier(cfg NodeConfig) (proxy.Proxier, error) {
	switch cfg.ProxyMode {
	case ProxyIPTables:
		return iptables.New(iptables.Options{ClusterCIDR: cfg.ClusterCIDR, NodePortAddresses: cfg.NodePortAddresses})
	case ProxyNFTables:
		return nftables.New(nftables.Options{ClusterCIDR: cfg.ClusterCIDR, NodePortAddresses: cfg.NodePortAddresses, NodeName: cfg.Name})
	default:
		return nil, nil
	}
}

// CleanupProxy removes the rules a node's service proxy left on this host
// (kube-proxy --cleanup), of every mode.
func CleanupProxy(ctx context.Context) error {
	var errs []error
	for _, mode := range []string{ProxyIPTables, ProxyNFTables} {
		p, err := newProxier(NodeConfig{ProxyMode: mode})
		if err == nil {
			err = p.Cleanup(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", mode, err))
		}
	}
	return errors.Join(errs...)
}

// runProxy runs the node's service proxy until ctx is done, serving its
// /healthz and /metrics on cfg.ProxyServeAddress when set.
func (n *Node) runProxy(ctx context.Context, p proxy.Proxier) error {
	restCfg := n.cfg.ProxyRESTConfig
	if restCfg == nil {
		restCfg = n.cfg.RESTConfig
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("cluster: node %s: proxy: %w", n.cfg.Name, err)
	}
	r, err := proxy.NewRunner(proxy.RunnerOptions{Client: cs, Proxier: p, Logger: n.cfg.Logger.With("component", "proxy")})
	if err != nil {
		return err
	}
	if n.cfg.ProxyServeAddress != "" {
		ln, err := net.Listen("tcp", n.cfg.ProxyServeAddress)
		if err != nil {
			return fmt.Errorf("cluster: node %s: proxy health: %w", n.cfg.Name, err)
		}
		srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
	}
	n.cfg.Logger.InfoContext(ctx, "service proxy running", "mode", n.cfg.ProxyMode)
	if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("cluster: node %s: proxy: %w", n.cfg.Name, err)
	}
	return nil
}

// ParsePrefixes parses CIDR ranges, as given to --nodeport-addresses.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
