// Command master runs a gantry master, like the seeds' hyperkube: the API
// server over an embedded etcd (or an external etcd cluster,
// --etcd-servers), with TLS and client-certificate authentication, state and
// PKI in --data-dir, and the scheduler and the controller manager.
//
// Nodes join it with examples/node: --node-names issues each named node a
// client certificate and writes its kubeconfig to
// <data-dir>/nodes/<name>.kubeconfig (and the service proxies' to
// <data-dir>/kube-proxy.kubeconfig), and a serving certificate for its
// node agent's API to <data-dir>/nodes/<name>.crt and .key, next to the
// cluster CA certificate <data-dir>/nodes/ca.crt. The API server reaches
// node agents over HTTPS with its own client certificate
// (kube-apiserver-kubelet-client) and checks theirs against the cluster CA
// for the node's name.
//
// Authorization is RBAC: the administrator's kubeconfig is in
// system:masters; other users get what roles bound to them allow.
//
//	go run ./examples/master --data-dir /var/lib/gantry --bind-address 0.0.0.0
//	export KUBECONFIG=/var/lib/gantry/kubeconfig
//	kubectl get componentstatuses
//
// Ctrl-C (or SIGTERM) stops it cleanly; started again on the same data dir
// it has the same objects and the same CA.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/examples/internal/logging"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	cfg := cluster.MasterConfig{DataDir: "./gantry-data", SecurePort: cluster.DefaultSecurePort, BindAddress: "127.0.0.1"}
	var verbosity int
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run a gantry master: API server, scheduler and controller manager",
		Long: `master runs a gantry control plane: the API server with an embedded etcd
(or an external etcd cluster, --etcd-servers), TLS, client-certificate
authentication and RBAC, the scheduler and the controller manager. State,
certificates and the kubeconfigs of the administrator and of the nodes
named by --node-names live in --data-dir and survive restarts.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = logging.New(cmd.ErrOrStderr(), verbosity)
			return run(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	cfg.AddFlags(cmd.Flags())
	cmd.Flags().StringSliceVar(&cfg.NodeNames, "node-names", nil,
		"nodes to issue certificates for; each one's kubeconfig is written to <data-dir>/nodes/<name>.kubeconfig, its node agent's serving certificate and key to <data-dir>/nodes/<name>.crt and .key")
	cmd.Flags().DurationVar(&cfg.NodeLifecycle.NodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second,
		"how long a node may go without a heartbeat before it is marked NotReady (Unknown)")
	cmd.Flags().DurationVar(&cfg.NodeLifecycle.PodEvictionTimeout, "pod-eviction-timeout", 5*time.Minute,
		"how long after a node turns NotReady its pods are evicted")
	cmd.Flags().IntVarP(&verbosity, "v", "v", 0, "log verbosity: 0 info, 1 or more debug (with etcd's logs)")
	return cmd
}

func run(ctx context.Context, out io.Writer, cfg cluster.MasterConfig) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := cluster.NewMaster(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	select {
	case err := <-errc:
		return err // failed to start, or stopped while starting
	case <-m.Ready():
	}
	printReady(out, m)

	select {
	case err := <-errc:
		return err // stopped on its own
	case <-ctx.Done():
	}
	stop() // a second Ctrl-C kills at once
	fmt.Fprintln(out, "\nShutting down (Ctrl-C again to force) ...")
	if err := <-errc; err != nil {
		return err
	}
	fmt.Fprintf(out, "Stopped cleanly. State is kept in %s for the next start.\n", m.Config().DataDir)
	return nil
}

func printReady(out io.Writer, m *cluster.Master) {
	cfg := m.Config()
	etcd := "external, " + strings.Join(m.EtcdEndpoints(), ",")
	if m.EmbeddedEtcd() {
		etcd = fmt.Sprintf("embedded, data in %s (client URL %s)", filepath.Join(cfg.DataDir, "etcd"), strings.Join(m.EtcdEndpoints(), ","))
	}
	fmt.Fprintf(out, `gantry master is running.

  API server  %s
              TLS with client certificates; RBAC (the kubeconfig below
              is in system:masters; other users get what roles allow)
  etcd        %s
  PKI         %s
  kubeconfig  %s (user admin, group system:masters)
  scheduler   default plugins, leader election
  controllers replica sets, deployments, daemon sets, stateful sets, jobs,
              endpoints, namespaces, service accounts, garbage collection,
              node lifecycle, pod GC
%s
Point kubectl at it:

  export KUBECONFIG=%s
  kubectl get componentstatuses

Press Ctrl-C to stop; the state in %s is kept for the next start.
`, m.URL(), etcd, filepath.Join(cfg.DataDir, "pki"), m.AdminKubeconfig(), nodesNote(m), m.AdminKubeconfig(), cfg.DataDir)
}

// nodesNote lists the node kubeconfigs, for examples/node --kubeconfig.
func nodesNote(m *cluster.Master) string {
	names := m.Config().NodeNames
	if len(names) == 0 {
		return "  nodes       none named (--node-names): no node kubeconfigs written\n"
	}
	var b strings.Builder
	for i, n := range names {
		label := ""
		if i == 0 {
			label = "nodes"
		}
		cert, key := m.NodeServingCert(n)
		fmt.Fprintf(&b, "  %-11s %s: %s, %s, %s\n", label, n, m.NodeKubeconfig(n), cert, key)
	}
	fmt.Fprintf(&b, "  %-11s %s\n", "node CA", m.NodeClientCAFile())
	fmt.Fprintf(&b, "  %-11s %s\n", "proxies", m.ProxyKubeconfig())
	return b.String()
}
