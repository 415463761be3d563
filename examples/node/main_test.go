package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFlags checks the flags that fail before anything starts.
func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no kubeconfig", nil, "--kubeconfig is required"},
		{"overlay without etcd", []string{"--kubeconfig", "k"}, "--etcd-servers is required"},
		{"unknown overlay", []string{"--overlay", "flannel"}, `--overlay "flannel": want one of vxlan, host-gw, none`},
		{"unknown proxy mode", []string{"--proxy-mode", "ipvs"}, `--proxy-mode "ipvs": want one of`},
		{"bad node port addresses", []string{"--kubeconfig", "k", "--overlay", "none", "--nodeport-addresses", "192.168.1.0/24,10.0.0.1"}, "--nodeport-addresses"},
		{"bad cluster CIDR", []string{"--cluster-cidr", "10.244.0.0"}, "--cluster-cidr"},
		{"bad node IP", []string{"--kubeconfig", "k", "--overlay", "none", "--node-ip", "node1"}, "--node-ip"},
		{"missing kubeconfig file", []string{"--kubeconfig", "/nonexistent/kubeconfig", "--overlay", "none", "--node-ip", "10.0.0.1"}, `kubeconfig "/nonexistent/kubeconfig"`},
		{"arguments", []string{"extra"}, "unknown command"},
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
			require.ErrorContains(t, cmd.ExecuteContext(ctx), tt.wantErr)
		})
	}
}
