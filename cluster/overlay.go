package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/hostgw"
	"github.com/gantryhq/gantry/overlay/vxlan"
	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/memory"
)

// DefaultClusterCIDR is the pod network a cluster's overlay is configured
// with when the store has no configuration yet.
var DefaultClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")

// OverlayNone is the --overlay value of a node without an overlay: pods
// use the runtime's default network.
const OverlayNone = "none"

// OverlayBackends lists the --overlay values of the example programs.
var OverlayBackends = []string{overlay.TypeVXLAN, overlay.TypeHostGW, OverlayNone}

// OverlayConfig configures the overlay network of a node.
type OverlayConfig struct {
	// EtcdServers is the etcd cluster that holds the network configuration
	// and the subnet leases (the master's). Required.
	EtcdServers []string
	// Network is the cluster's pod network, written to the store as the
	// network configuration when there is none (an existing one wins);
	// DefaultClusterCIDR if invalid.
	Network netip.Prefix
	// Backend is the data plane of a new configuration: overlay.TypeVXLAN
	// (the default) or overlay.TypeHostGW. An existing configuration's
	// backend wins.
	Backend string
	// PublicIP is the node's underlay address, published to the peers; by
	// default the address of the default route's interface.
	PublicIP netip.Addr
	// SubnetFile is where subnet.env is written; overlay.DefaultSubnetFile
	// if empty.
	SubnetFile string
	// Logger receives the overlay's logs; nil means slog.Default().
	Logger *slog.Logger
}

// NewOverlay connects to the store, makes sure the network configuration
// exists, and returns the node's overlay agent (not yet running) and a
// function that closes the store once the agent is done.
func NewOverlay(ctx context.Context, cfg OverlayConfig) (*overlay.Agent, func(), error) {
	if len(cfg.EtcdServers) == 0 {
		return nil, nil, errors.New("cluster: overlay: OverlayConfig.EtcdServers is required")
	}
	if !cfg.Network.IsValid() {
		cfg.Network = DefaultClusterCIDR
	}
	if cfg.Backend == "" {
		cfg.Backend = overlay.TypeVXLAN
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	st, err := etcdstore.New(etcdstore.Options{Endpoints: cfg.EtcdServers})
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: overlay: %w", err)
	}
	agent, err := newOverlayAgent(ctx, st, cfg)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return agent, func() { st.Close() }, nil
}

func newOverlayAgent(ctx context.Context, st store.Store, cfg OverlayConfig) (*overlay.Agent, error) {
	sm, err := overlay.NewSubnetManager(overlay.SubnetManagerOptions{Store: st})
	if err != nil {
		return nil, err
	}
	netCfg, err := sm.Config(ctx)
	if errors.Is(err, overlay.ErrNoConfig) {
		netCfg = &overlay.Config{Network: cfg.Network, Backend: overlay.BackendConfig{Type: cfg.Backend}}
		if err = sm.SetConfig(ctx, netCfg); err == nil {
			cfg.Logger.InfoContext(ctx, "overlay: wrote the network configuration", "network", cfg.Network, "backend", cfg.Backend)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: overlay: network configuration: %w", err)
	}
	var backend overlay.Backend
	switch netCfg.Backend.Type {
	case overlay.TypeHostGW:
		backend, err = hostgw.New(hostgw.Options{PublicIP: cfg.PublicIP})
	case overlay.TypeVXLAN, "":
		backend, err = vxlan.New(vxlan.Options{PublicIP: cfg.PublicIP})
	default:
		err = fmt.Errorf("backend %q: want %s or %s", netCfg.Backend.Type, overlay.TypeVXLAN, overlay.TypeHostGW)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: overlay: %w", err)
	}
	return overlay.New(overlay.Options{
		Store: st, Backend: backend, SubnetFile: cfg.SubnetFile,
		IPMasq: true, AcceptForward: true, Logger: cfg.Logger.With("component", "overlay"),
	})
}

// CleanupOverlay removes what a node's overlay made on this host - the
// backend's devices and routes, the pod bridge, the masquerade and
// forwarding rules, subnet.env - and the Docker network the runtime made on
// the bridge. It needs no store: cfg.Network and cfg.Backend say what the
// network was. The node's lease stays in the store until it expires.
func CleanupOverlay(ctx context.Context, cfg OverlayConfig, podBridge string) error {
	if !cfg.Network.IsValid() {
		cfg.Network = DefaultClusterCIDR
	}
	if cfg.Backend == "" || cfg.Backend == OverlayNone {
		cfg.Backend = overlay.TypeVXLAN
	}
	if podBridge == "" {
		podBridge = overlay.DefaultBridge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var errs []error
	// The Docker network first: it holds the bridge.
	if cli, err := client.New(client.FromEnv); err == nil {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := cli.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true}); err == nil {
			if _, err := cli.NetworkRemove(ctx, podBridge, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("docker network %s: %w", podBridge, err))
			}
		}
		cancel()
		cli.Close()
	}
	st := memory.New(memory.Options{})
	defer st.Close()
	sm, err := overlay.NewSubnetManager(overlay.SubnetManagerOptions{Store: st})
	if err == nil {
		err = sm.SetConfig(ctx, &overlay.Config{Network: cfg.Network, Backend: overlay.BackendConfig{Type: cfg.Backend}})
	}
	var agent *overlay.Agent
	if err == nil {
		cfg.EtcdServers = nil
		agent, err = newOverlayAgent(ctx, st, cfg)
	}
	if err == nil {
		err = agent.Cleanup(ctx)
	}
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CleanupNode removes what a node left on this host: the service proxy's
// rules of every mode (CleanupProxy) and the overlay's devices, rules and
// Docker network (CleanupOverlay with cfg).
func CleanupNode(ctx context.Context, cfg OverlayConfig) error {
	if err := CleanupProxy(ctx); err != nil {
		return err
	}
	return CleanupOverlay(ctx, cfg, "")
}
