// Command allinone runs a gantry cluster in one process: master and node.
//
// It runs the master - the API server over an embedded etcd (or an external
// one, --etcd-servers), with TLS and client-certificate authentication,
// state and PKI in --data-dir - and one node: a node agent (pods' volumes
// in --data-dir/nodeagent) with its own
// client certificate, running pods on Docker (--runtime docker, the default;
// the local images gantry.local/busybox, pause and echo are built on start)
// or on an in-memory runtime that runs nothing (--runtime fake), and the
// service proxy programming cluster IPs and node ports into iptables
// (--proxy-mode), and the overlay network (--overlay vxlan or host-gw: the
// node leases a pod subnet in etcd and its pods get their addresses from it
// on the gantry0 bridge) - with the scheduler and the controller manager.
//
// --cleanup removes the service proxy's rules and the overlay's devices and
// rules from the host and exits.
//
//	go run ./examples/allinone --data-dir /tmp/gantry
//	export KUBECONFIG=/tmp/gantry/kubeconfig
//	kubectl get componentstatuses
//
// Ctrl-C (or SIGTERM) stops it cleanly; started again on the same data dir
// it has the same objects and the same CA.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/examples/internal/logging"
	"github.com/gantryhq/gantry/overlay"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

// runtimes are the values of --runtime.
var runtimes = []string{"docker", "fake"}

func newCommand() *cobra.Command {
	cfg := cluster.MasterConfig{DataDir: "./gantry-data", SecurePort: cluster.DefaultSecurePort, BindAddress: "127.0.0.1"}
	var runtimeName, nodeName, proxyMode, clusterCIDR, overlayBackend, podManifestPath string
	var nodePortAddresses []string
	var nodePort, proxyPort, verbosity int
	var cleanup bool
	cmd := &cobra.Command{
		Use:   "allinone",
		Short: "Run a gantry cluster in one process: master and one node",
		Long: `allinone runs a gantry cluster in one process: the API server with an
embedded etcd, TLS and client-certificate authentication, and one node whose
agent runs pods on Docker (or, with --runtime fake, on an in-memory runtime
that runs nothing). State, certificates, the administrator's kubeconfig
and the pods' volumes live in --data-dir and survive restarts.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(runtimes, runtimeName) {
				return fmt.Errorf("--runtime %q: want one of %s", runtimeName, strings.Join(runtimes, ", "))
			}
			cfg.Logger = logging.New(cmd.ErrOrStderr(), verbosity)
			if proxyMode == "" {
				// Pods of the fake runtime answer nothing: leave the
				// host's rules alone.
				proxyMode = cluster.ProxyIPTables
				if runtimeName == cluster.RuntimeFake {
					proxyMode = cluster.ProxyNone
				}
			}
			if overlayBackend == "" {
				overlayBackend = overlay.TypeVXLAN
				if runtimeName == cluster.RuntimeFake {
					overlayBackend = cluster.OverlayNone
				}
			}
			if !slices.Contains(cluster.OverlayBackends, overlayBackend) {
				return fmt.Errorf("--overlay %q: want one of %s", overlayBackend, strings.Join(cluster.OverlayBackends, ", "))
			}
			if !slices.Contains(cluster.ProxyModes, proxyMode) {
				return fmt.Errorf("--proxy-mode %q: want one of %s", proxyMode, strings.Join(cluster.ProxyModes, ", "))
			}
			var cidr netip.Prefix
			if clusterCIDR != "" {
				var err error
				if cidr, err = netip.ParsePrefix(clusterCIDR); err != nil {
					return fmt.Errorf("--cluster-cidr: %w", err)
				}
			} else if overlayBackend != cluster.OverlayNone {
				cidr = cluster.DefaultClusterCIDR
			}
			if cleanup {
				ocfg := cluster.OverlayConfig{Network: cidr, Backend: overlayBackend, SubnetFile: subnetFile(cfg.DataDir)}
				if err := cluster.CleanupNode(cmd.Context(), ocfg); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "Removed the service proxy's rules and the overlay's devices, routes and rules.")
				return nil
			}
			if nodeName == "" {
				h, err := os.Hostname()
				if err != nil {
					return fmt.Errorf("--node-name: %w", err)
				}
				nodeName = strings.ToLower(h)
			}
			cfg.NodeNames = []string{nodeName}
			nodePortAddrs, err := cluster.ParsePrefixes(nodePortAddresses)
			if err != nil {
				return fmt.Errorf("--nodeport-addresses: %w", err)
			}
			return run(cmd.Context(), cmd.OutOrStdout(), cfg, node{name: nodeName, runtime: runtimeName, port: nodePort, proxyMode: proxyMode,
				proxyPort: proxyPort, clusterCIDR: cidr, nodePortAddrs: nodePortAddrs, overlay: overlayBackend,
				podManifestPath: podManifestPath})
		},
	}
	cfg.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&runtimeName, "runtime", "docker",
		"container runtime of the node: "+strings.Join(runtimes, " or ")+" (fake runs nothing: for trying the API)")
	cmd.Flags().StringVar(&nodeName, "node-name", "", "name of the node (default: the host name)")
	cmd.Flags().IntVar(&nodePort, "node-agent-port", 10250, "port of the node agent's HTTPS API (logs, exec; authenticated and authorized through the API server), on the advertise address; 0 picks a free one")
	cmd.Flags().StringVar(&proxyMode, "proxy-mode", "",
		"service proxy of the node: "+strings.Join(cluster.ProxyModes, " or ")+" (default iptables; none with --runtime fake)")
	cmd.Flags().StringSliceVar(&nodePortAddresses, "nodeport-addresses", nil,
		"CIDR ranges of the node addresses that serve node ports (comma-separated); empty means every local address")
	cmd.Flags().StringVar(&clusterCIDR, "cluster-cidr", "", "pod network; the proxy masquerades traffic to cluster IPs from outside it")
	cmd.Flags().IntVar(&proxyPort, "proxy-health-port", 10256, "port of the service proxy's /healthz and /metrics, on the advertise address; 0 picks a free one")
	cmd.Flags().StringVar(&podManifestPath, "pod-manifest-path", "", "directory of static pod manifests (one pod per YAML or JSON file) the node runs and mirrors to the API server")
	cmd.Flags().BoolVar(&cleanup, "cleanup", false, "remove the service proxy's iptables rules from this host and exit")
	cmd.Flags().IntVarP(&verbosity, "v", "v", 0, "log verbosity: 0 info, 1 or more debug (with etcd's logs)")
	return cmd
}

// node is the node the all-in-one runs.
type node struct {
	name, runtime string
	port          int
	proxyMode     string
	proxyPort     int
	clusterCIDR   netip.Prefix
	nodePortAddrs []netip.Prefix
	overlay       string
	// podManifestPath is the node's static pod directory.
	podManifestPath string
}

// subnetFile is where the overlay writes subnet.env.
func subnetFile(dataDir string) string { return filepath.Join(dataDir, "subnet.env") }

func run(ctx context.Context, out io.Writer, cfg cluster.MasterConfig, nd node) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := cluster.NewMaster(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	select {
	case err := <-errc:
		return err // failed to start, or stopped while starting
	case <-m.Ready():
	}

	nodeIP := netip.MustParseAddr("127.0.0.1")
	if a, err := netip.ParseAddr(m.Config().AdvertiseAddress); err == nil {
		nodeIP = a
	}
	restCfg, err := m.NodeRESTConfig(nd.name)
	var ov *overlay.Agent
	if err == nil && nd.overlay != cluster.OverlayNone {
		var closeStore func()
		ov, closeStore, err = cluster.NewOverlay(ctx, cluster.OverlayConfig{
			EtcdServers: m.EtcdEndpoints(), Network: nd.clusterCIDR, Backend: nd.overlay,
			PublicIP: nodeIP, SubnetFile: subnetFile(m.Config().DataDir), Logger: cfg.Logger,
		})
		if err == nil {
			defer closeStore()
		}
	}
	if err == nil {
		var n *cluster.Node
		ncfg := cluster.NodeConfig{
			Name: nd.name, RESTConfig: restCfg, Runtime: nd.runtime, NodeIP: nodeIP,
			ServeAddress: net.JoinHostPort(nodeIP.String(), strconv.Itoa(nd.port)), Logger: cfg.Logger,
			ProxyMode: nd.proxyMode, ClusterCIDR: nd.clusterCIDR, NodePortAddresses: nd.nodePortAddrs,
			ProxyServeAddress: net.JoinHostPort(nodeIP.String(), strconv.Itoa(nd.proxyPort)),
			// The agent's API: the master's certificate for the node, and
			// client certificates of the cluster CA (the API server's).
			ClientCAFile: m.NodeClientCAFile(),
			// Pods' volumes live with the rest of the cluster's state.
			RootDir:         filepath.Join(m.Config().DataDir, "nodeagent"),
			PodManifestPath: nd.podManifestPath,
		}
		ncfg.TLSCertFile, ncfg.TLSKeyFile = m.NodeServingCert(nd.name)
		if ov != nil {
			ncfg.Overlay = ov
		}
		n, err = cluster.NewNode(ncfg)
		if err == nil {
			nodeErr := make(chan error, 1)
			go func() { nodeErr <- n.Run(ctx) }()
			printReady(out, m, nd)
			select {
			case err = <-nodeErr:
				if err == nil {
					err = ctx.Err()
				}
			case err = <-errc:
				if err == nil {
					err = errors.New("the master stopped")
				}
				return err
			case <-ctx.Done():
				err = nil
			}
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		// The node could not start (no Docker daemon, say): say why and
		// stop the master too, rather than pretend pods can run.
		fmt.Fprintf(out, "\nThe node failed: %v\n", err)
		cancel()
		<-errc
		return err
	}
	stop() // a second Ctrl-C kills at once
	fmt.Fprintln(out, "\nShutting down (Ctrl-C again to force) ...")
	cancel()
	if err := <-errc; err != nil {
		return err
	}
	fmt.Fprintf(out, "Stopped cleanly. State is kept in %s for the next start.\n", m.Config().DataDir)
	return nil
}

func printReady(out io.Writer, m *cluster.Master, nd node) {
	cfg := m.Config()
	etcd := "external, " + strings.Join(m.EtcdEndpoints(), ",")
	if m.EmbeddedEtcd() {
		etcd = fmt.Sprintf("embedded, data in %s (client URL %s)", filepath.Join(cfg.DataDir, "etcd"), strings.Join(m.EtcdEndpoints(), ","))
	}
	runtimeNote := "Docker: pods run as containers, images gantry.local/busybox, pause and echo built locally"
	if nd.runtime == cluster.RuntimeFake {
		runtimeNote = "fake: an in-memory runtime - pods are reported Running but NOTHING runs"
	}
	fmt.Fprintf(out, `gantry all-in-one is running: master and node %q.

  API server  %s
              TLS with client certificates; RBAC (the kubeconfig below
              is in system:masters; other users get what roles allow)
  etcd        %s
  PKI         %s
  kubeconfig  %s (user admin, group system:masters)
  node        %s, runtime %s
  proxy       %s
  scheduler   default plugins (resources, affinity, taints, spread, ...)
  controllers replica sets, deployments, daemon sets, stateful sets, jobs,
              endpoints, namespaces, service accounts, garbage collection,
              node lifecycle, pod GC
  overlay     %s

Point kubectl at it:

  export KUBECONFIG=%s
  kubectl get componentstatuses
  kubectl get nodes

Press Ctrl-C to stop; the state in %s is kept for the next start.
`, nd.name, m.URL(), etcd, filepath.Join(cfg.DataDir, "pki"), m.AdminKubeconfig(), nd.name, runtimeNote, proxyNote(nd.proxyMode), overlayNote(nd),
		m.AdminKubeconfig(), cfg.DataDir)
}

func overlayNote(nd node) string {
	if nd.overlay == cluster.OverlayNone {
		return "none: pods get addresses from Docker's default bridge (--overlay)"
	}
	return fmt.Sprintf("%s over network %s: the node leases a subnet in etcd; pods join bridge %s", nd.overlay, nd.clusterCIDR, overlay.DefaultBridge)
}

func proxyNote(mode string) string {
	if mode == cluster.ProxyNone {
		return "none: cluster IPs and node ports do not answer (--proxy-mode)"
	}
	return mode + ": cluster IPs and node ports answer on this host (--cleanup removes the rules)"
}
