package nftables

import (
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/proxytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func ep(addr string, port int32) proxy.Endpoint {
	return proxy.Endpoint{Addr: netip.MustParseAddr(addr), Port: port}
}

func portName(ns, n, port string, proto v1.Protocol) proxy.ServicePortName {
	return proxy.ServicePortName{Namespace: ns, Name: n, Port: port, Protocol: proto}
}

// Services of the golden cases; functions, since NewState sorts in place.
func web() *proxy.ServicePort {
	return &proxy.ServicePort{
		Name: portName("default", "web", "http", v1.ProtocolTCP), ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 80,
		Endpoints: []proxy.Endpoint{ep("10.244.1.5", 8080), ep("10.244.2.7", 8080), ep("10.244.3.9", 8080)},
	}
}

func front() *proxy.ServicePort {
	return &proxy.ServicePort{
		Name: portName("shop", "front", "", v1.ProtocolTCP), ClusterIP: netip.MustParseAddr("10.96.3.3"), Port: 443, NodePort: 30443,
		ExternalIPs:     []netip.Addr{netip.MustParseAddr("198.51.100.7")},
		AffinityTimeout: 3 * time.Hour,
		Endpoints:       []proxy.Endpoint{ep("10.244.1.6", 8443), ep("10.244.2.8", 8443)},
	}
}

func dns() *proxy.ServicePort {
	return &proxy.ServicePort{
		Name: portName("kube-system", "dns", "dns", v1.ProtocolUDP), ClusterIP: netip.MustParseAddr("10.96.0.53"), Port: 53,
		Endpoints: []proxy.Endpoint{ep("10.244.1.2", 5353)},
	}
}

func sctp() *proxy.ServicePort {
	return &proxy.ServicePort{
		Name: portName("default", "signal", "", v1.ProtocolSCTP), ClusterIP: netip.MustParseAddr("10.96.9.9"), Port: 9999,
		Endpoints: []proxy.Endpoint{ep("10.244.4.4", 9999)},
	}
}

func empty() *proxy.ServicePort {
	return &proxy.ServicePort{
		Name: portName("default", "empty", "", v1.ProtocolTCP), ClusterIP: netip.MustParseAddr("10.96.7.7"), Port: 80, NodePort: 30007,
		ExternalIPs: []netip.Addr{netip.MustParseAddr("198.51.100.8")},
	}
}

type goldenCase struct {
	name     string
	opts     Options
	services func() []*proxy.ServicePort
}

var goldenCases = []goldenCase{
	{"empty", Options{}, func() []*proxy.ServicePort { return nil }},
	{"clusterip", Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}, func() []*proxy.ServicePort { return []*proxy.ServicePort{web()} }},
	{"nodeport-affinity-externalip", Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}, func() []*proxy.ServicePort { return []*proxy.ServicePort{front()} }},
	{"no-endpoints", Options{}, func() []*proxy.ServicePort { return []*proxy.ServicePort{empty()} }},
	{"protocols-masquerade-all", Options{MasqueradeAll: true}, func() []*proxy.ServicePort { return []*proxy.ServicePort{dns(), sctp()} }},
	{"nodeport-addresses-table", Options{
		TableName:         "gantry-test",
		NodePortAddresses: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.0.0.1/32")},
		MasqueradeBit:     5,
	}, func() []*proxy.ServicePort { return []*proxy.ServicePort{front(), empty()} }},
}

// syncIn makes a proxier for node and syncs each state in turn.
func syncIn(t *testing.T, node *proxytest.Netns, opts Options, states ...*proxy.State) *Proxier {
	t.Helper()
	var p *Proxier
	err := node.Do(func() error {
		var err error
		if p, err = New(opts); err != nil {
			return err
		}
		for _, s := range states {
			if err := p.Sync(context.Background(), s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tableOf(opts Options) string {
	if opts.TableName == "" {
		return DefaultTableName
	}
	return opts.TableName
}

// TestGolden syncs each case into a scratch network namespace and compares
// `nft list table` with testdata/<case>.golden (go test -run TestGolden
// -update rewrites them).
func TestGolden(t *testing.T) {
	proxytest.RequireRoot(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			node := proxytest.NewNetns(t, "gnft-golden")
			syncIn(t, node, tc.opts, proxy.NewState(tc.services()...))
			got := Dump(t, node, tableOf(tc.opts))
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("table differs from %s:\n%s", path, got)
			}
		})
	}
}
