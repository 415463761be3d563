package cluster_test

import (
	"io"
	"net/netip"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/cluster"
)

func TestAddFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    func(t *testing.T, c cluster.MasterConfig)
		wantErr bool
	}{
		{name: "defaults kept", args: nil, want: func(t *testing.T, c cluster.MasterConfig) {
			require.Equal(t, cluster.MasterConfig{DataDir: "./gantry-data", SecurePort: 6443, BindAddress: "127.0.0.1"}, c)
		}},
		{name: "all", args: []string{
			"--data-dir=/var/lib/gantry", "--bind-address=0.0.0.0", "--secure-port=0", "--advertise-address=192.0.2.1",
			"--tls-san=api.example", "--tls-san=192.0.2.2", "--etcd-servers=https://e1:2379,https://e2:2379",
			"--etcd-cafile=ca", "--etcd-certfile=c", "--etcd-keyfile=k",
			"--service-cluster-ip-range=10.96.0.1/12", "--service-node-port-range=31000-31999",
		}, want: func(t *testing.T, c cluster.MasterConfig) {
			require.Equal(t, cluster.MasterConfig{
				DataDir: "/var/lib/gantry", BindAddress: "0.0.0.0", SecurePort: 0, AdvertiseAddress: "192.0.2.1",
				CertSANs: []string{"api.example", "192.0.2.2"}, EtcdServers: []string{"https://e1:2379", "https://e2:2379"},
				EtcdCAFile: "ca", EtcdCertFile: "c", EtcdKeyFile: "k",
				ServiceClusterIPRange: netip.MustParsePrefix("10.96.0.0/12"),
				ServiceNodePortRange:  apiserver.PortRange{Base: 31000, Size: 1000},
			}, c)
		}},
		{name: "toleration seconds", args: []string{"--default-not-ready-toleration-seconds=0", "--default-unreachable-toleration-seconds=120"},
			want: func(t *testing.T, c cluster.MasterConfig) {
				require.Equal(t, int64(0), *c.DefaultNotReadyTolerationSeconds)
				require.Equal(t, int64(120), *c.DefaultUnreachableTolerationSeconds)
			}},
		{name: "negative toleration seconds", args: []string{"--default-unreachable-toleration-seconds=-1"}, wantErr: true},
		{name: "bad CIDR", args: []string{"--service-cluster-ip-range=10.0.0.0"}, wantErr: true},
		{name: "bad port range", args: []string{"--service-node-port-range=32000-31000"}, wantErr: true},
		{name: "bad port", args: []string{"--secure-port=https"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cluster.MasterConfig{DataDir: "./gantry-data", SecurePort: 6443, BindAddress: "127.0.0.1"}
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.AddFlags(fs)
			err := fs.Parse(tt.args)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			tt.want(t, cfg)
		})
	}
}

func TestParseTaints(t *testing.T) {
	got, err := cluster.ParseTaints([]string{"dedicated=gpu:NoSchedule", "example.com/spot:PreferNoSchedule"})
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Taint{
		{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
		{Key: "example.com/spot", Effect: corev1.TaintEffectPreferNoSchedule},
	}
	require.Equal(t, want, got)
	for _, bad := range []string{"nokey", "k=v:Sometimes", "bad key=v:NoSchedule", "k=bad value:NoExecute"} {
		if _, err := cluster.ParseTaints([]string{bad}); err == nil {
			t.Errorf("ParseTaints(%q) accepted", bad)
		}
	}
}

// TestTolerationSecondsFlagDefault: the flags show Kubernetes' default of
// 300 s while the config leaves it unset.
func TestTolerationSecondsFlagDefault(t *testing.T) {
	var cfg cluster.MasterConfig
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	for _, name := range []string{"default-not-ready-toleration-seconds", "default-unreachable-toleration-seconds"} {
		require.Equal(t, "300", fs.Lookup(name).DefValue, name)
	}
	require.Nil(t, cfg.DefaultNotReadyTolerationSeconds)
}
