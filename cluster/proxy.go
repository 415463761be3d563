package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/iptables"
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
)

// ProxyModes lists the accepted values of NodeConfig.ProxyMode.
var ProxyModes = []string{ProxyIPTables, ProxyNone}

func validProxyMode(m string) error {
	switch m {
	case "", ProxyNone, ProxyIPTables:
		return nil
	}
	return fmt.Errorf("cluster: proxy mode %q: want %s or %s", m, ProxyIPTables, ProxyNone)
}

// newProxier returns the proxier of cfg's mode, or nil for ProxyNone.
func newProxier(cfg NodeConfig) (proxy.Proxier, error) {
	switch cfg.ProxyMode {
	case ProxyIPTables:
		return iptables.New(iptables.Options{ClusterCIDR: cfg.ClusterCIDR})
	default:
		return nil, nil
	}
}

// CleanupProxy removes the rules a node's service proxy of mode left on
// this host (kube-proxy --cleanup).
func CleanupProxy(ctx context.Context, mode string) error {
	if err := validProxyMode(mode); err != nil {
		return err
	}
	p, err := newProxier(NodeConfig{ProxyMode: mode})
	if err != nil || p == nil {
		return err
	}
	return p.Cleanup(ctx)
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
