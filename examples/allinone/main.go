// Command allinone runs a gantry cluster in one process: master and node.
//
// This version runs the master only: the API server over an embedded etcd
// (or an external one, --etcd-servers), with TLS and client-certificate
// authentication, state and PKI in --data-dir. No node is attached yet (the
// node agent comes with a later version), so pods are stored but nothing
// runs them; the program says so when it starts. --runtime is accepted and
// checked now, for the node agent to come.
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
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gantryhq/gantry/cluster"
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
	var runtimeName string
	var verbosity int
	cmd := &cobra.Command{
		Use:   "allinone",
		Short: "Run a gantry cluster in one process (this version: the master; no node yet)",
		Long: `allinone runs a gantry cluster in one process: the API server with an
embedded etcd, TLS and client-certificate authentication. State, certificates
and the administrator's kubeconfig live in --data-dir and survive restarts.

No node is attached in this version: the node agent comes later. Pods are
accepted by the API but nothing runs them.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(runtimes, runtimeName) {
				return fmt.Errorf("--runtime %q: want one of %s", runtimeName, strings.Join(runtimes, ", "))
			}
			cfg.Logger = newLogger(cmd.ErrOrStderr(), verbosity)
			return run(cmd.Context(), cmd.OutOrStdout(), cfg, runtimeName)
		},
	}
	cfg.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&runtimeName, "runtime", "docker",
		"container runtime of the node: "+strings.Join(runtimes, " or ")+" (checked now; the node agent is not available yet)")
	cmd.Flags().IntVarP(&verbosity, "v", "v", 0, "log verbosity: 0 info, 1 or more debug (with etcd's logs)")
	return cmd
}

func run(ctx context.Context, out io.Writer, cfg cluster.MasterConfig, runtimeName string) error {
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
	printReady(out, m, runtimeName)

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

func printReady(out io.Writer, m *cluster.Master, runtimeName string) {
	cfg := m.Config()
	etcd := "external, " + strings.Join(m.EtcdEndpoints(), ",")
	if m.EmbeddedEtcd() {
		etcd = fmt.Sprintf("embedded, data in %s (client URL %s)", filepath.Join(cfg.DataDir, "etcd"), strings.Join(m.EtcdEndpoints(), ","))
	}
	fmt.Fprintf(out, `gantry all-in-one is running: master only, no node attached yet.

  API server  %s
              TLS with client certificates; no authorization yet (every
              authenticated user may do anything)
  etcd        %s
  PKI         %s
  kubeconfig  %s (user admin, group system:masters)
  scheduler,  not available yet: kubectl get componentstatuses lists etcd
  controllers only, and nothing acts on deployments or replica sets
  node        none. The node agent (runtime %q) is not available in this
              version: the API accepts pods, but nothing runs them and they
              stay Pending; kubectl get nodes lists no nodes

Point kubectl at it:

  export KUBECONFIG=%s
  kubectl get componentstatuses
  kubectl get namespaces

Press Ctrl-C to stop; the state in %s is kept for the next start.
`, m.URL(), etcd, filepath.Join(cfg.DataDir, "pki"), m.AdminKubeconfig(), runtimeName,
		m.AdminKubeconfig(), cfg.DataDir)
}

// newLogger logs text to w: info, or debug with verbosity 1 and more.
func newLogger(w io.Writer, verbosity int) *slog.Logger {
	level := slog.LevelInfo
	if verbosity > 0 {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
