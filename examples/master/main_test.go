package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/examples/internal/proctest"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
)

const ready = "export KUBECONFIG="

// TestEndToEnd runs the master as a process, with its embedded etcd and
// with an external one, and drives it with kubectl.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t, "github.com/gantryhq/gantry/examples/master")
	tests := []struct {
		name     string
		external bool
	}{
		{"embedded etcd", false},
		{"external etcd", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dataDir := filepath.Join(t.TempDir(), "data")
			args := []string{"--data-dir", dataDir}
			var emb *etcdstore.Embedded
			if tt.external {
				var err error
				emb, err = etcdstore.StartEmbedded(context.Background(), etcdstore.EmbeddedOptions{TempDir: true, FastTicks: true})
				require.NoError(t, err)
				t.Cleanup(func() { emb.Close() })
				args = append(args, "--etcd-servers", strings.Join(emb.Endpoints(), ","))
			}
			p, _ := proctest.StartServer(t, bin, "--secure-port", ready, time.Minute, args...)
			if tt.external {
				require.Contains(t, p.Stdout(), "external, "+emb.Endpoints()[0])
				require.NoDirExists(t, filepath.Join(dataDir, "etcd"))
			} else {
				require.Contains(t, p.Stdout(), "embedded, data in "+filepath.Join(dataDir, "etcd"))
			}
			k := proctest.NewKubectl(t, filepath.Join(dataDir, "kubeconfig"))
			proctest.Eventually(t, time.Minute, 100*time.Millisecond, func() (bool, string) {
				out, err := k.Try("get", "cs")
				return err == nil && strings.Contains(out, "etcd-0") && strings.Contains(out, "Healthy"), out
			})
			require.Contains(t, k.Run(t, "get", "ns"), "kube-system")
			k.Run(t, "create", "namespace", "team-a")
			require.Contains(t, k.Run(t, "get", "ns", "team-a"), "Active")

			p.Signal(syscall.SIGTERM)
			require.Equal(t, 0, p.Wait(30*time.Second), "clean exit; stderr:\n%s", p.Stderr())
			require.Contains(t, p.Stdout(), "Stopped cleanly")
		})
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no runtime flag", []string{"--runtime", "docker"}, "unknown flag: --runtime"},
		{"etcd TLS without servers", []string{"--etcd-cafile", "ca.crt", "--data-dir", "x"}, "no etcd servers"},
		{"bad node port range", []string{"--service-node-port-range", "1-70000"}, "invalid port range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			require.ErrorContains(t, cmd.Execute(), tt.wantErr)
			require.NoDirExists(t, "x", "nothing started")
		})
	}
}
