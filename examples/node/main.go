// Command node runs a gantry node that joins a master: the node agent
// (pods on Docker, or on an in-memory runtime with --runtime fake), the
// service proxy (iptables NAT rules for cluster IPs and node ports) and the
// overlay network (a pod subnet leased in the master's etcd; vxlan or
// host-gw routes to the other nodes).
//
// The master (examples/master --node-names NAME) writes the node's
// kubeconfig to <data-dir>/nodes/NAME.kubeconfig and its node agent's
// serving certificate and key to <data-dir>/nodes/NAME.crt and NAME.key;
// copy them to the node:
//
//	go run ./examples/node --kubeconfig node1.kubeconfig --node-name node1 \
//	    --tls-cert-file node1.crt --tls-private-key-file node1.key \
//	    --node-ip 192.168.1.11 --etcd-servers http://192.168.1.10:2379
//
// The node agent's API (logs, exec; --node-agent-port) is HTTPS with that
// certificate (without one, a self-signed certificate the master does not
// trust: kubectl logs and exec then fail). It takes client certificates of
// --client-ca-file (default: the CA of the kubeconfig, which for a gantry
// master is the cluster CA that signed the API server's client
// certificate) and bearer tokens, which it checks with the API server
// (TokenReview); it asks the API server whether the user may use
// nodes/proxy (SubjectAccessReview). Requests without credentials get 401;
// /healthz stays open.
//
// --cleanup removes the proxy's rules and the overlay's devices and rules
// from the host and exits. Ctrl-C (or SIGTERM) stops the node; pods, rules
// and routes stay, and a node started again adopts them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/examples/internal/logging"
	"github.com/gantryhq/gantry/overlay"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

// flags are the command line.
type flags struct {
	kubeconfig, proxyKubeconfig, name, nodeIP, runtime string
	tlsCertFile, tlsKeyFile, clientCAFile              string
	proxyMode, overlay, clusterCIDR, dataDir, rootDir  string
	podManifestPath                                    string
	nodeLabels                                         map[string]string
	taints                                             []string
	registerNode                                       bool
	etcdServers, nodePortAddresses                     []string
	agentPort, proxyPort, verbosity                    int
	cleanup                                            bool
}

func newCommand() *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a gantry node: node agent, service proxy and overlay, joining a master",
		Long: `node runs a gantry node that joins a master with a kubeconfig: the node
agent registers the node and runs the pods bound to it on Docker, the service
proxy programs cluster IPs and node ports, and the overlay leases the node's
pod subnet in the master's etcd and routes to the other nodes' subnets.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := logging.New(cmd.ErrOrStderr(), f.verbosity)
			return run(cmd.Context(), cmd.OutOrStdout(), f, logger)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the node agent (written by examples/master --node-names); required")
	fs.StringVar(&f.proxyKubeconfig, "proxy-kubeconfig", "", "kubeconfig of the service proxy (system:kube-proxy); default --kubeconfig")
	fs.StringVar(&f.name, "node-name", "", "name of the node (default: the host name)")
	fs.StringVar(&f.nodeIP, "node-ip", "", "the node's address (InternalIP, the overlay's public IP); default: the address of the default route's interface")
	fs.StringVar(&f.runtime, "runtime", cluster.RuntimeDocker, "container runtime: docker or fake (fake runs nothing)")
	fs.StringVar(&f.proxyMode, "proxy-mode", cluster.ProxyIPTables, "service proxy: "+strings.Join(cluster.ProxyModes, " or "))
	fs.StringVar(&f.overlay, "overlay", overlay.TypeVXLAN, "overlay network: "+strings.Join(cluster.OverlayBackends, ", "))
	fs.StringSliceVar(&f.etcdServers, "etcd-servers", nil, "etcd client URLs holding the overlay's subnet leases (the master's etcd); required with --overlay")
	fs.StringVar(&f.clusterCIDR, "cluster-cidr", "", "pod network: the overlay's network when etcd has no configuration yet (default 10.244.0.0/16)")
	fs.StringSliceVar(&f.nodePortAddresses, "nodeport-addresses", nil, "CIDR ranges of the node addresses that serve node ports (comma-separated); empty means every local address")
	fs.StringVar(&f.dataDir, "data-dir", "./gantry-node", "directory for the node's state (subnet.env)")
	fs.StringVar(&f.rootDir, "root-dir", "", "directory of the pods' volumes (the kubelet's --root-dir); default /var/lib/gantry/nodeagent/<node-name>")
	fs.StringToStringVar(&f.nodeLabels, "node-labels", nil, "labels the node registers with, key=value (comma-separated)")
	fs.StringSliceVar(&f.taints, "register-with-taints", nil, "taints the node registers with, key[=value]:Effect (comma-separated)")
	fs.BoolVar(&f.registerNode, "register-node", true, "create the Node in the API server; false waits for an administrator to create it")
	fs.StringVar(&f.podManifestPath, "pod-manifest-path", "", "directory of static pod manifests (one pod per YAML or JSON file) the node runs and mirrors to the API server")
	fs.IntVar(&f.agentPort, "node-agent-port", 10250, "port of the node agent's HTTPS API (logs, exec); 0 picks a free one")
	fs.StringVar(&f.tlsCertFile, "tls-cert-file", "", "serving certificate of the node agent's API (examples/master writes <data-dir>/nodes/<name>.crt); default: a self-signed one")
	fs.StringVar(&f.tlsKeyFile, "tls-private-key-file", "", "private key of --tls-cert-file")
	fs.StringVar(&f.clientCAFile, "client-ca-file", "", "CA certificates that clients' certificates must chain to, for the node agent's API; default: the CA of --kubeconfig")
	fs.IntVar(&f.proxyPort, "proxy-health-port", 10256, "port of the proxy's /healthz and /metrics; 0 picks a free one")
	fs.BoolVar(&f.cleanup, "cleanup", false, "remove the proxy's rules and the overlay's devices and rules from this host and exit")
	fs.IntVarP(&f.verbosity, "v", "v", 0, "log verbosity: 0 info, 1 or more debug")
	return cmd
}

func run(ctx context.Context, out io.Writer, f flags, logger *slog.Logger) error {
	if !slices.Contains(cluster.OverlayBackends, f.overlay) {
		return fmt.Errorf("--overlay %q: want one of %s", f.overlay, strings.Join(cluster.OverlayBackends, ", "))
	}
	if !slices.Contains(cluster.ProxyModes, f.proxyMode) {
		return fmt.Errorf("--proxy-mode %q: want one of %s", f.proxyMode, strings.Join(cluster.ProxyModes, ", "))
	}
	cidr := cluster.DefaultClusterCIDR
	if f.clusterCIDR != "" {
		var err error
		if cidr, err = netip.ParsePrefix(f.clusterCIDR); err != nil {
			return fmt.Errorf("--cluster-cidr: %w", err)
		}
	}
	nodePortAddrs, err := cluster.ParsePrefixes(f.nodePortAddresses)
	if err != nil {
		return fmt.Errorf("--nodeport-addresses: %w", err)
	}
	subnetFile := filepath.Join(f.dataDir, "subnet.env")
	if f.cleanup {
		if err := cluster.CleanupNode(ctx, cluster.OverlayConfig{Network: cidr, Backend: f.overlay, SubnetFile: subnetFile}); err != nil {
			return err
		}
		fmt.Fprintln(out, "Removed the service proxy's rules and the overlay's devices, routes and rules.")
		return nil
	}
	if f.kubeconfig == "" {
		return errors.New("--kubeconfig is required (examples/master --node-names writes one per node)")
	}
	if f.overlay != cluster.OverlayNone && len(f.etcdServers) == 0 {
		return errors.New("--etcd-servers is required with an overlay (or --overlay none)")
	}
	var nodeIP netip.Addr
	if f.nodeIP != "" {
		var err error
		if nodeIP, err = netip.ParseAddr(f.nodeIP); err != nil {
			return fmt.Errorf("--node-ip: %w", err)
		}
	} else {
		var err error
		if nodeIP, err = defaultIP(); err != nil {
			return fmt.Errorf("--node-ip: %w", err)
		}
	}
	if (f.tlsCertFile == "") != (f.tlsKeyFile == "") {
		return errors.New("--tls-cert-file and --tls-private-key-file go together")
	}
	taints, err := cluster.ParseTaints(f.taints)
	if err != nil {
		return fmt.Errorf("--register-with-taints: %w", err)
	}
	restCfg, err := loadKubeconfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cfg := cluster.NodeConfig{
		Name: f.name, RESTConfig: restCfg, Runtime: f.runtime, NodeIP: nodeIP,
		ServeAddress: net.JoinHostPort(nodeIP.String(), strconv.Itoa(f.agentPort)),
		Logger:       logger,
		ProxyMode:    f.proxyMode, ClusterCIDR: cidr, NodePortAddresses: nodePortAddrs,
		ProxyServeAddress: net.JoinHostPort(nodeIP.String(), strconv.Itoa(f.proxyPort)),
		TLSCertFile:       f.tlsCertFile, TLSKeyFile: f.tlsKeyFile,
		RootDir: f.rootDir, PodManifestPath: f.podManifestPath,
		Labels: f.nodeLabels, Taints: taints, DisableRegistration: !f.registerNode,
	}
	switch {
	case f.clientCAFile != "":
		cfg.ClientCAFile = f.clientCAFile
	case restCfg.CAFile != "":
		cfg.ClientCAFile = restCfg.CAFile
	default:
		cfg.ClientCAData = restCfg.CAData
	}
	if f.proxyKubeconfig != "" {
		if cfg.ProxyRESTConfig, err = loadKubeconfig(f.proxyKubeconfig); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.overlay != cluster.OverlayNone {
		ov, closeStore, err := cluster.NewOverlay(ctx, cluster.OverlayConfig{
			EtcdServers: f.etcdServers, Network: cidr, Backend: f.overlay,
			PublicIP: nodeIP, SubnetFile: subnetFile, Logger: logger,
		})
		if err != nil {
			return err
		}
		defer closeStore()
		cfg.Overlay = ov
	}
	n, err := cluster.NewNode(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	fmt.Fprintf(out, "gantry node %q is running: node agent on %s (runtime %s), proxy %s (health %s), overlay %s.\nPress Ctrl-C to stop.\n",
		n.Config().Name, cfg.ServeAddress, n.Config().Runtime, f.proxyMode, cfg.ProxyServeAddress, f.overlay)
	err = <-errc
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
}

func loadKubeconfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %q: %w", path, err)
	}
	return cfg, nil
}

// defaultIP is the source address of the default route.
func defaultIP() (netip.Addr, error) {
	c, err := net.Dial("udp4", "192.0.2.1:9") // no packet is sent
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no default route: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
