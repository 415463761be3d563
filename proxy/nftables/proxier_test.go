package nftables

import (
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/proxytest"
)

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
		Dump: func(t *testing.T, node *proxytest.Netns) string { return Dump(t, node, DefaultTableName) },
	})
}

var (
	expires  = regexp.MustCompile(` expires [0-9dhms]+`)
	elements = regexp.MustCompile(`(?s)elements = \{([^}]*)\}`)
)

// Dump returns `nft list table ip <table>` in node, normalised: elements
// sorted (the kernel lists a hash set in an order of its own) and without
// the expiry times of affinity pins (which change by the second); "" when
// the table is absent.
func Dump(t testing.TB, node *proxytest.Netns, table string) string {
	t.Helper()
	out, err := node.Run(context.Background(), "nft", "list", "table", "ip", table)
	if err != nil {
		if strings.Contains(out, "No such file or directory") {
			return ""
		}
		t.Fatal(err)
	}
	out = expires.ReplaceAllString(out, "")
	return elements.ReplaceAllStringFunc(out, func(m string) string {
		body := elements.FindStringSubmatch(m)[1]
		var els []string
		for _, e := range strings.Split(body, ",") {
			els = append(els, strings.TrimSpace(e))
		}
		slices.Sort(els)
		return "elements = {\n\t\t\t" + strings.Join(els, ",\n\t\t\t") + " }"
	})
}

// TestPeriodicSyncRepairs checks that a sync without changes rebuilds the
// table when it was removed or changed behind the proxier's back.
func TestPeriodicSyncRepairs(t *testing.T) {
	proxytest.RequireRoot(t)
	state := func() *proxy.State { return proxy.NewState(web(), front(), empty()) }
	for _, tc := range []struct {
		name   string
		tamper []string
	}{
		{"table deleted", []string{"delete", "table", "ip", DefaultTableName}},
		{"chain added", []string{"add", "chain", "ip", DefaultTableName, "intruder"}},
		{"dispatch flushed", []string{"flush", "chain", "ip", DefaultTableName, "services"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := proxytest.NewNetns(t, "gnft-repair")
			p := syncIn(t, node, Options{}, state())
			want := Dump(t, node, DefaultTableName)
			if _, err := node.Run(context.Background(), "nft", tc.tamper...); err != nil {
				t.Fatal(err)
			}
			if err := node.Do(func() error { return p.Sync(context.Background(), state()) }); err != nil {
				t.Fatal(err)
			}
			if got := Dump(t, node, DefaultTableName); got != want {
				t.Fatalf("after nft %s and a sync:\n%s\nwant:\n%s", strings.Join(tc.tamper, " "), got, want)
			}
		})
	}
}

func TestNewValidatesOptions(t *testing.T) {
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("New needs the conntrack tool (hack/test installs it):", err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{}, true},
		{"all set", Options{TableName: "kube_proxy-2", ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), MasqueradeAll: true,
			NodePortAddresses: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")}, MasqueradeBit: 31}, true},
		{"table name with a space", Options{TableName: "my table"}, false},
		{"table name too long", Options{TableName: strings.Repeat("t", 33)}, false},
		{"mark bit too big", Options{MasqueradeBit: 32}, false},
		{"mark bit negative", Options{MasqueradeBit: -1}, false},
		{"IPv6 cluster CIDR", Options{ClusterCIDR: netip.MustParsePrefix("fd00::/64")}, false},
		{"IPv6 node port addresses", Options{NodePortAddresses: []netip.Prefix{netip.MustParsePrefix("fd00::/64")}}, false},
		{"invalid node port prefix", Options{NodePortAddresses: []netip.Prefix{{}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%+v) = %v; want ok=%v", tc.opts, err, tc.ok)
			}
			if err == nil && (p.opts.TableName == "" || p.opts.MasqueradeBit == 0) {
				t.Fatalf("defaults not applied: %+v", p.opts)
			}
		})
	}
}

func TestServiceIDIsStableAndDistinct(t *testing.T) {
	seen := map[string]proxy.ServicePortName{}
	for i := range 20000 {
		n := proxy.ServicePortName{Namespace: "ns", Name: "svc" + strconv.Itoa(i), Port: "http", Protocol: v1.ProtocolTCP}
		id := serviceID(n)
		if id != serviceID(n) {
			t.Fatalf("serviceID(%v) changes", n)
		}
		if prev, ok := seen[id[:8]]; ok {
			t.Fatalf("hash %s of %v collides with %v", id[:8], n, prev)
		}
		seen[id[:8]] = n
	}
	if got, want := serviceID(proxy.ServicePortName{Namespace: "default", Name: "web", Port: "http", Protocol: v1.ProtocolTCP})[9:], "default/web/http/tcp"; got != want {
		t.Fatalf("readable part %q, want %q", got, want)
	}
}

// TestFailedSyncNamesTheObjectAndRecovers breaks the table behind the
// proxier's back so that an incremental sync fails, and checks the error
// and that the next sync rebuilds the table.
func TestFailedSyncNamesTheObjectAndRecovers(t *testing.T) {
	proxytest.RequireRoot(t)
	node := proxytest.NewNetns(t, "gnft-fail")
	p := syncIn(t, node, Options{}, proxy.NewState(web(), dns()))
	chain := serviceChain(web().Name)
	for _, args := range [][]string{
		{"delete", "element", "ip", DefaultTableName, mapServiceIPs, "{ 10.96.0.10 . tcp . 80 }"},
		{"delete", "chain", "ip", DefaultTableName, chain},
	} {
		if out, err := node.Run(context.Background(), "nft", args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	scaled := web()
	scaled.Endpoints = scaled.Endpoints[:2]
	err := node.Do(func() error { return p.Sync(context.Background(), proxy.NewState(scaled, dns())) })
	if err == nil || !strings.Contains(err.Error(), chain) {
		t.Fatalf("Sync after the chain was deleted: %v; want an error naming %s", err, chain)
	}
	// The next sync starts over and repairs the table.
	if err := node.Do(func() error { return p.Sync(context.Background(), proxy.NewState(scaled, dns())) }); err != nil {
		t.Fatal(err)
	}
	fresh := proxytest.NewNetns(t, "gnft-fresh")
	syncIn(t, fresh, Options{}, proxy.NewState(scaled, dns()))
	want := Dump(t, fresh, DefaultTableName)
	if got := Dump(t, node, DefaultTableName); got != want {
		t.Fatalf("after recovery:\n%s\nwant:\n%s", got, want)
	}
}
