package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/examples/internal/proctest"
)

// ready is what the program prints once the cluster serves.
const ready = "export KUBECONFIG="

// TestEndToEnd builds the program, runs it as an operator would, drives
// it with the real kubectl, stops it with Ctrl-C and starts it again on the
// same data dir.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t, "github.com/gantryhq/gantry/examples/allinone")
	dataDir := filepath.Join(t.TempDir(), "data")
	kubeconfig := filepath.Join(dataDir, "kubeconfig")
	k := proctest.NewKubectl(t, kubeconfig)
	args := []string{"--data-dir", dataDir, "--runtime", "fake", "--node-name", "e2e-node", "--node-agent-port", "0"}

	p, port := proctest.StartServer(t, bin, "--secure-port", ready, time.Minute, args...)
	out := p.Stdout()
	require.Contains(t, out, "export KUBECONFIG="+kubeconfig)
	require.Contains(t, out, "https://127.0.0.1:"+strconv.Itoa(port))
	require.Contains(t, out, `master and node "e2e-node"`)
	require.Contains(t, out, "NOTHING runs", "the fake runtime says plainly that it runs nothing")

	proctest.Eventually(t, time.Minute, 100*time.Millisecond, func() (bool, string) {
		out, err := k.Try("get", "cs")
		return err == nil && strings.Contains(out, "etcd-0") && strings.Contains(out, "Healthy"), out
	})
	require.Contains(t, k.Run(t, "get", "ns"), "default")
	proctest.Eventually(t, time.Minute, 100*time.Millisecond, func() (bool, string) {
		out, err := k.Try("get", "nodes")
		return err == nil && strings.Contains(out, "e2e-node") && strings.Contains(out, "Ready"), out
	})
	k.Run(t, "run", "p", "--image=gantry.local/busybox:1.0", `--overrides={"spec":{"nodeName":"e2e-node"}}`)
	proctest.Eventually(t, time.Minute, 100*time.Millisecond, func() (bool, string) {
		out, err := k.Try("get", "pod", "p", "-o", "jsonpath={.status.phase}")
		return err == nil && out == "Running", out
	})
	k.Run(t, "create", "configmap", "e2e", "--from-literal=colour=blue")
	caBefore, err := os.ReadFile(filepath.Join(dataDir, "pki", "ca.crt"))
	require.NoError(t, err)

	p.Signal(syscall.SIGINT)
	require.Equal(t, 0, p.Wait(30*time.Second), "clean exit; stderr:\n%s", p.Stderr())
	require.Contains(t, p.Stdout(), "Stopped cleanly")
	_, err = k.Try("get", "ns")
	require.Error(t, err, "stopped")

	// Again on the same data dir: same objects, same CA, and the
	// kubeconfig written the first time still works (same port).
	p = proctest.Start(t, bin, append(args, "--secure-port="+strconv.Itoa(port))...)
	p.WaitOutput(ready, time.Minute)
	require.NotContains(t, p.Stderr(), "issued certificate", "certificates reused")
	require.Equal(t, "blue", k.Run(t, "get", "configmap", "e2e", "-o", "jsonpath={.data.colour}"))
	caAfter, err := os.ReadFile(filepath.Join(dataDir, "pki", "ca.crt"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(caBefore, caAfter), "same CA")

	p.Signal(syscall.SIGTERM)
	require.Equal(t, 0, p.Wait(30*time.Second), "clean exit on SIGTERM; stderr:\n%s", p.Stderr())
}

// TestFlags checks the flags that fail before anything starts.
func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown runtime", []string{"--runtime", "podman"}, `--runtime "podman": want one of docker, fake`},
		{"bad port", []string{"--secure-port", "70000", "--data-dir", "x"}, "secure port 70000 out of range"},
		{"loopback advertise address", []string{"--advertise-address", "127.0.0.1", "--data-dir", "x"}, "advertise address"},
		{"bad CIDR", []string{"--service-cluster-ip-range", "10.0.0.0"}, "not a CIDR range"},
		{"arguments", []string{"extra"}, "unknown command"},
		{"unknown proxy mode", []string{"--proxy-mode", "ipvs"}, `--proxy-mode "ipvs": want one of`},
		{"bad node port addresses", []string{"--nodeport-addresses", "192.168.1.0/24,10.0.0.1"}, "--nodeport-addresses"},
		{"bad cluster CIDR", []string{"--cluster-cidr", "10.244.0.0"}, "--cluster-cidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := cmd.ExecuteContext(ctx)
			require.ErrorContains(t, err, tt.wantErr)
			require.NoDirExists(t, "x", "nothing started")
		})
	}
}
