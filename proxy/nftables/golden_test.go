package nftables

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
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
	{"hairpin-local-endpoints", Options{NodeName: "node-a"}, func() []*proxy.ServicePort {
		sp := web()
		sp.Endpoints[0].NodeName = "node-a"
		sp.Endpoints[1].NodeName = "node-b" // not in the hairpin set
		return []*proxy.ServicePort{sp}     // Endpoints[2]: node unknown
	}},
	{"long-names", Options{}, func() []*proxy.ServicePort {
		sp := front()
		sp.Name = portName(strings.Repeat("n", 63), strings.Repeat("s", 63), strings.Repeat("p", 15), v1.ProtocolTCP)
		return []*proxy.ServicePort{sp}
	}},
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

// TestIncrementalMatchesFull applies a series of states one after the
// other (incremental syncs) and checks after each that the table means the
// same as a full sync of that state into a fresh table: same rules, same
// elements, same RuleCount (slots and set sizes may differ; normalise
// resolves them).
func TestIncrementalMatchesFull(t *testing.T) {
	proxytest.RequireRoot(t)
	opts := Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}
	webWith := func(eps ...proxy.Endpoint) *proxy.ServicePort { sp := web(); sp.Endpoints = eps; return sp }
	frontWith := func(timeout time.Duration, eps ...proxy.Endpoint) *proxy.ServicePort {
		sp := front()
		sp.AffinityTimeout, sp.Endpoints = timeout, eps
		return sp
	}
	moved := func() *proxy.ServicePort {
		sp := empty()
		sp.ExternalIPs = []netip.Addr{netip.MustParseAddr("198.51.100.9")}
		return sp
	}
	steps := []struct {
		name     string
		services func() []*proxy.ServicePort
	}{
		{"start", func() []*proxy.ServicePort { return []*proxy.ServicePort{web(), dns()} }},
		{"endpoint replaced, service added, service removed", func() []*proxy.ServicePort {
			return []*proxy.ServicePort{webWith(ep("10.244.1.5", 8080), ep("10.244.9.9", 8080)), front(), empty()}
		}},
		{"no endpoints left", func() []*proxy.ServicePort { return []*proxy.ServicePort{webWith(), front(), empty()} }},
		{"endpoints back, affinity changed", func() []*proxy.ServicePort {
			return []*proxy.ServicePort{web(), frontWith(time.Minute, ep("10.244.1.6", 8443), ep("10.244.5.5", 8443)), empty()}
		}},
		{"affinity off, external IP changed, protocols added", func() []*proxy.ServicePort {
			return []*proxy.ServicePort{web(), frontWith(0, ep("10.244.1.6", 8443)), moved(), dns(), sctp()}
		}},
		{"empty", func() []*proxy.ServicePort { return nil }},
		{"again", func() []*proxy.ServicePort { return []*proxy.ServicePort{sctp(), front(), web()} }},
	}
	inc := proxytest.NewNetns(t, "gnft-inc")
	full := proxytest.NewNetns(t, "gnft-full")
	p := syncIn(t, inc, opts)
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := inc.Do(func() error { return p.Sync(context.Background(), proxy.NewState(step.services()...)) }); err != nil {
				t.Fatal(err)
			}
			q := syncIn(t, full, opts, proxy.NewState(step.services()...))
			got, want := normalise(t, Dump(t, inc, DefaultTableName)), normalise(t, Dump(t, full, DefaultTableName))
			if strings.Contains(got, "@endpoints-") {
				t.Fatalf("normalise left slots unresolved:\n%s", got)
			}
			if got != want {
				t.Fatalf("incremental sync differs from a full sync:\n--- incremental\n%s\n--- full\n%s", got, want)
			}
			for _, pr := range []struct {
				p    *Proxier
				node *proxytest.Netns
			}{{p, inc}, {q, full}} {
				var shape tableShape
				if err := pr.node.Do(func() (err error) { shape, err = pr.p.tableShape(); return err }); err != nil {
					t.Fatal(err)
				}
				if want := pr.p.expectedShape(pr.p.prev); shape != want {
					t.Fatalf("%s: table shape %+v, want %+v (a periodic sync would rebuild the table)", pr.node.Name, shape, want)
				}
			}
			if p.RuleCount() != q.RuleCount() {
				t.Fatalf("RuleCount %d after incremental syncs, %d after a full sync", p.RuleCount(), q.RuleCount())
			}
		})
	}
}

var (
	blockStart    = regexp.MustCompile(`^\t(map|set|chain) (\S+) \{$`)
	endpointEntry = regexp.MustCompile(`^(0x[0-9a-f]+) : (.*?),?( \})?$`)
	numgenMap     = regexp.MustCompile(`numgen random mod (\d+)(?: offset (\d+))? map @(endpoints-\d+)`)
	sizeLine      = regexp.MustCompile(`(?m)^\t\tsize \d+\n`)
)

// normalise makes a Dump independent of slot numbering, set sizes and
// object order: endpoints maps are resolved into the rules reading them,
// and the table's blocks are sorted.
func normalise(t *testing.T, dump string) string {
	t.Helper()
	dump = sizeLine.ReplaceAllString(dump, "")
	lines := strings.Split(dump, "\n")
	endpoints := map[string]map[uint64]string{} // map -> key -> endpoint
	var blocks []string
	for i := 0; i < len(lines); i++ {
		m := blockStart.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		j := i
		for lines[j] != "\t}" {
			j++
		}
		if strings.HasPrefix(m[2], "endpoints-") {
			els := map[uint64]string{}
			for _, l := range lines[i+1 : j] {
				if e := endpointEntry.FindStringSubmatch(strings.TrimSpace(l)); e != nil {
					k, err := strconv.ParseUint(e[1], 0, 64)
					if err != nil {
						t.Fatal(err)
					}
					els[k] = e[2]
				}
			}
			endpoints[m[2]] = els
		} else {
			blocks = append(blocks, strings.Join(lines[i:j+1], "\n"))
		}
		i = j
	}
	for i, b := range blocks {
		blocks[i] = numgenMap.ReplaceAllStringFunc(b, func(s string) string {
			m := numgenMap.FindStringSubmatch(s)
			n, _ := strconv.Atoi(m[1])
			off, _ := strconv.ParseUint(m[2]+"0", 10, 64)
			off /= 10
			var eps []string
			for k := range uint64(n) {
				e, ok := endpoints[m[3]][off+k]
				if !ok {
					t.Fatalf("%s: no element %#x in %s", s, off+k, m[3])
				}
				eps = append(eps, e)
			}
			return fmt.Sprintf("numgen random mod %d map { %s }", n, strings.Join(eps, ", "))
		})
	}
	slices.Sort(blocks)
	return strings.Join(blocks, "\n")
}
