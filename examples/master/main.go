// Command master runs a gantry master: the API server over an embedded etcd
// (or an external etcd cluster, --etcd-servers), with TLS and
// client-certificate authentication, state and PKI in --data-dir.
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
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
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

func newCommand() *cobra.Command {
	cfg := cluster.MasterConfig{DataDir: "./gantry-data", SecurePort: cluster.DefaultSecurePort, BindAddress: "127.0.0.1"}
	var verbosity int
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run a gantry master (this version: the API server and etcd)",
		Long: `master runs a gantry control plane: the API server with an embedded etcd
(or an external etcd cluster, --etcd-servers), TLS and client-certificate
authentication. State, certificates and the administrator's kubeconfig live
in --data-dir and survive restarts.

The scheduler and controller manager are not part of this version yet.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = newLogger(cmd.ErrOrStderr(), verbosity)
			return run(cmd.Context(), cmd.OutOrStdout(), cfg)
		},
	}
	cfg.AddFlags(cmd.Flags())
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
  scheduler,  not available yet: kubectl get componentstatuses lists etcd
  controllers only, and nothing acts on deployments or replica sets

Point kubectl at it:

  export KUBECONFIG=%s
  kubectl get componentstatuses

Press Ctrl-C to stop; the state in %s is kept for the next start.
`, m.URL(), etcd, filepath.Join(cfg.DataDir, "pki"), m.AdminKubeconfig(), m.AdminKubeconfig(), cfg.DataDir)
}

// newLogger logs text to w: info, or debug with verbosity 1 and more.
func newLogger(w io.Writer, verbosity int) *slog.Logger {
	level := slog.LevelInfo
	if verbosity > 0 {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
