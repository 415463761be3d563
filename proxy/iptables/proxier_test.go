package iptables

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/proxytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestBehaviour(t *testing.T) {
	proxytest.Run(t, proxytest.Backend{
		New: func(t *testing.T, node *proxytest.Netns, clusterCIDR netip.Prefix) proxy.Proxier {
			var p *Proxier
			err := node.Do(func() error {
				var err error
				p, err = New(Options{ClusterCIDR: clusterCIDR})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		Dump: func(t *testing.T, node *proxytest.Netns) string { return dump(t, node, "KUBE") },
	})
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// dump returns the rules and chains of node's nat and filter tables that
// mention prefix, without counters.
func dump(t *testing.T, node *proxytest.Netns, prefix string) string {
	t.Helper()
	var out []string
	for _, table := range []string{"nat", "filter"} {
		s, err := node.Run(context.Background(), "iptables-save", "-t", table)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(s, "\n") {
			if strings.Contains(line, prefix+"-") {
				out = append(out, table+": "+counters.ReplaceAllString(line, "[0:0]"))
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestRender compares the restore input for a set of services with the
// golden files in testdata (go test -run TestRender -update rewrites them).
func TestRender(t *testing.T) {
	ep := func(addr string, port int32) proxy.Endpoint {
		return proxy.Endpoint{Addr: netip.MustParseAddr(addr), Port: port}
	}
	name := func(ns, n, port string, proto v1.Protocol) proxy.ServicePortName {
		return proxy.ServicePortName{Namespace: ns, Name: n, Port: port, Protocol: proto}
	}
	web := &proxy.ServicePort{
		Name: name("default", "web", "http", v1.ProtocolTCP), ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 80,
		Endpoints: []proxy.Endpoint{ep("10.244.1.5", 8080), ep("10.244.2.7", 8080), ep("10.244.3.9", 8080)},
	}
	nodePort := &proxy.ServicePort{
		Name: name("shop", "front", "", v1.ProtocolTCP), ClusterIP: netip.MustParseAddr("10.96.3.3"), Port: 443, NodePort: 30443,
		ExternalIPs:     []netip.Addr{netip.MustParseAddr("198.51.100.7")},
		AffinityTimeout: 3 * time.Hour,
		Endpoints:       []proxy.Endpoint{ep("10.244.1.6", 8443), ep("10.244.2.8", 8443)},
	}
	dns := &proxy.ServicePort{
		Name: name("kube-system", "dns", "dns", v1.ProtocolUDP), ClusterIP: netip.MustParseAddr("10.96.0.53"), Port: 53,
		Endpoints: []proxy.Endpoint{ep("10.244.1.2", 5353)},
	}
	sctp := &proxy.ServicePort{
		Name: name("default", "signal", "", v1.ProtocolSCTP), ClusterIP: netip.MustParseAddr("10.96.9.9"), Port: 9999,
		Endpoints: []proxy.Endpoint{ep("10.244.4.4", 9999)},
	}
	empty := &proxy.ServicePort{
		Name: name("default", "empty", "", v1.ProtocolTCP), ClusterIP: netip.MustParseAddr("10.96.7.7"), Port: 80, NodePort: 30007,
		ExternalIPs: []netip.Addr{netip.MustParseAddr("198.51.100.8")},
	}
	for _, tc := range []struct {
		name     string
		opts     Options
		services []*proxy.ServicePort
	}{
		{"empty", Options{}, nil},
		{"clusterip", Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}, []*proxy.ServicePort{web}},
		{"nodeport-affinity-externalip", Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}, []*proxy.ServicePort{nodePort}},
		{"no-endpoints", Options{}, []*proxy.ServicePort{empty}},
		{"protocols-masquerade-all", Options{MasqueradeAll: true}, []*proxy.ServicePort{dns, sctp}},
		{"nodeport-addresses-prefix", Options{
			ChainPrefix:       "GANTRY",
			NodePortAddresses: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.0.0.1/32")},
			MasqueradeBit:     5,
		}, []*proxy.ServicePort{nodePort, empty}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts.ChainPrefix == "" {
				opts.ChainPrefix = DefaultChainPrefix
			}
			if opts.MasqueradeBit == 0 {
				opts.MasqueradeBit = 14
			}
			opts.randomFully = true
			p := &Proxier{opts: opts, names: newChainNames(opts.ChainPrefix), chains: map[string]struct{}{}}
			r, _, _, _ := p.render(proxy.NewState(tc.services...), true, nil)
			got := r.bytes()
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Fatalf("restore input differs from %s:\n%s", path, got)
			}
		})
	}
}

// TestChainNamesFit checks every generated chain name against iptables'
// 28-character limit.
func TestChainNamesFit(t *testing.T) {
	n := newChainNames("GANTRY12")
	sp := proxy.ServicePortName{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("s", 63), Port: strings.Repeat("p", 15), Protocol: v1.ProtocolSCTP}
	for _, c := range []string{n.svcChain(sp), n.extChain(sp), n.sepChain(sp, proxy.Endpoint{Addr: netip.MustParseAddr("10.0.0.1"), Port: 1}),
		n.services, n.externalServices, n.postrouting, n.nodePorts, n.markMasq, n.forward} {
		if len(c) > 28 {
			t.Errorf("chain %q is %d characters; iptables allows 28", c, len(c))
		}
	}
}

// TestPeriodicSyncRepairsHooks removes a hook and a service chain behind
// the proxier's back: the next sync without changes (the periodic one)
// puts them back, once.
func TestPeriodicSyncRepairsHooks(t *testing.T) {
	proxytest.RequireRoot(t)
	node := proxytest.NewNetns(t, "gpi")
	ctx := context.Background()
	var p *Proxier
	if err := node.Do(func() (err error) { p, err = New(Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	state := proxy.NewState(&proxy.ServicePort{
		Name:      proxy.ServicePortName{Namespace: "default", Name: "web", Protocol: v1.ProtocolTCP},
		ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 80,
		Endpoints: []proxy.Endpoint{{Addr: netip.MustParseAddr("10.244.1.5"), Port: 8080}},
	})
	sync := func() {
		t.Helper()
		if err := node.Do(func() error { return p.Sync(ctx, state) }); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	want := dump(t, node, "KUBE")
	if _, err := node.Run(ctx, "iptables", "-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "service portals", "-j", "KUBE-SERVICES"); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Run(ctx, "iptables", "-t", "nat", "-F", p.names.svcChain(state.Services[0].Name)); err != nil {
		t.Fatal(err)
	}
	if dump(t, node, "KUBE") == want {
		t.Fatal("the rules did not change")
	}
	sync()
	if got := dump(t, node, "KUBE"); got != want {
		t.Fatalf("after the repairing sync:\n%s\nwant:\n%s", got, want)
	}
	if err := node.Do(func() error { return p.Cleanup(ctx) }); err != nil {
		t.Fatal(err)
	}
}

// TestKernelTakesEveryProtocol syncs a service of each protocol the proxier
// supports into a namespace: the kernel accepts the rules (SCTP's match
// included), and each service's node port rule is there.
func TestKernelTakesEveryProtocol(t *testing.T) {
	proxytest.RequireRoot(t)
	node := proxytest.NewNetns(t, "gpi")
	ctx := context.Background()
	var p *Proxier
	if err := node.Do(func() (err error) { p, err = New(Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	var sps []*proxy.ServicePort
	for i, proto := range []v1.Protocol{v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP} {
		sps = append(sps, &proxy.ServicePort{
			Name:      proxy.ServicePortName{Namespace: "default", Name: strings.ToLower(string(proto)), Protocol: proto},
			ClusterIP: netip.AddrFrom4([4]byte{10, 96, 0, byte(10 + i)}), Port: 9999, NodePort: int32(30100 + i),
			Endpoints: []proxy.Endpoint{{Addr: netip.MustParseAddr("10.244.1.5"), Port: 9999}},
		})
	}
	if err := node.Do(func() error { return p.Sync(ctx, proxy.NewState(sps...)) }); err != nil {
		t.Fatal(err)
	}
	d := dump(t, node, "KUBE")
	for _, sp := range sps {
		l := strings.ToLower(string(sp.Name.Protocol))
		if want := fmt.Sprintf("-p %s -m comment --comment \"%s\" -m %s --dport %d", l, sp.Name, l, sp.NodePort); !strings.Contains(d, want) {
			t.Errorf("no %q in the rules:\n%s", want, d)
		}
	}
	if err := node.Do(func() error { return p.Cleanup(ctx) }); err != nil {
		t.Fatal(err)
	}
}
