package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/proxytest"
)

const benchEndpoints = 10

// benchService is service i of a benchmark: a cluster IP in 10.96.0.0/12,
// a node port for every tenth, and benchEndpoints endpoints (gen varies
// them, for incremental syncs).
func benchService(i, gen int) *proxy.ServicePort {
	sp := &proxy.ServicePort{
		Name:      proxy.ServicePortName{Namespace: fmt.Sprintf("ns%d", i%100), Name: fmt.Sprintf("svc%d", i), Port: "http", Protocol: v1.ProtocolTCP},
		ClusterIP: netip.AddrFrom4([4]byte{10, 96 + byte(i>>16), byte(i >> 8), byte(i)}),
		Port:      80,
	}
	if i%10 == 0 {
		sp.NodePort = int32(30000 + i/10)
	}
	for e := range benchEndpoints {
		n := i*benchEndpoints + e + gen
		sp.Endpoints = append(sp.Endpoints, proxy.Endpoint{Addr: netip.AddrFrom4([4]byte{10, 128 + byte(n>>16), byte(n >> 8), byte(n)}), Port: 8080})
	}
	return sp
}

func benchState(n int) *proxy.State {
	s := make([]*proxy.ServicePort, n)
	for i := range s {
		s[i] = benchService(i, 0)
	}
	return proxy.NewState(s...)
}

// baselineRuleset is the ruleset an nft -f user would write for the same
// services: the dispatch map and one chain per service with an endpoint
// map, as the issue measured ("one chain per service and an endpoint
// map").
func baselineRuleset(state *proxy.State) string {
	var b strings.Builder
	b.WriteString("table ip baseline {\n")
	b.WriteString("\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n\t}\n")
	b.WriteString("\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n\t}\n")
	for i, sp := range state.Services {
		fmt.Fprintf(&b, "\tchain svc-%d {\n\t\tip saddr != 10.128.0.0/9 meta mark set meta mark | 0x4000\n\t\tmeta l4proto tcp dnat ip to numgen random mod %d map { ", i, len(sp.Endpoints))
		for j, ep := range sp.Endpoints {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d : %s . %d", j, ep.Addr, ep.Port)
		}
		b.WriteString(" }\n\t}\n")
	}
	b.WriteString("}\n")
	for i, sp := range state.Services {
		fmt.Fprintf(&b, "add element ip baseline service-ips { %s . tcp . %d : goto svc-%d }\n", sp.ClusterIP, sp.Port, i)
	}
	return b.String()
}

// nftLoad times `nft -f` of ruleset in a fresh namespace: wall clock and
// CPU time (user and system, of nft and the kernel work it causes).
func nftLoad(b *testing.B, ruleset string) (wall, cpu time.Duration) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "ruleset.nft")
	if err := os.WriteFile(path, []byte(ruleset), 0o644); err != nil {
		b.Fatal(err)
	}
	ns := proxytest.NewNetns(b, "gnft-base")
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", path)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("nft -f: %v: %s", err, out)
	}
	wall = time.Since(start)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the metrics of a benchmark: elements (RuleCount), the CPU
// time per sync, and the baseline's wall and CPU time with the ratios.
func report(b *testing.B, elements int, cpu time.Duration, baseWall, baseCPU time.Duration) {
	wall := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	cpuPerOp := float64(cpu.Nanoseconds()) / float64(b.N)
	b.ReportMetric(float64(elements), "elements")
	b.ReportMetric(cpuPerOp, "cpu-ns/op")
	b.ReportMetric(float64(baseWall.Nanoseconds()), "nft-f-ns")
	b.ReportMetric(float64(baseCPU.Nanoseconds()), "nft-f-cpu-ns")
	b.ReportMetric(wall/float64(baseWall.Nanoseconds()), "x-nft-f")
	b.ReportMetric(cpuPerOp/float64(baseCPU.Nanoseconds()), "x-nft-f-cpu")
}

// BenchmarkFullSync measures the first sync of N services with 10
// endpoints each into a fresh network namespace, against `nft -f` of an
// equivalent ruleset loaded the same way (x-nft-f is the ratio).
func BenchmarkFullSync(b *testing.B) {
	benchFull(b, []int{1000, 5000, 10000}, "", benchState)
}

// BenchmarkFullSyncOn100Nodes is BenchmarkFullSync at 10,000 services
// with the endpoints spread over 100 nodes and the proxier told its node
// (Options.NodeName): only the local endpoints go into the hairpin set,
// as on a real node.
func BenchmarkFullSyncOn100Nodes(b *testing.B) {
	benchFull(b, []int{10000}, "node-0", func(n int) *proxy.State {
		state := benchState(n)
		for _, sp := range state.Services {
			for i := range sp.Endpoints {
				sp.Endpoints[i].NodeName = fmt.Sprintf("node-%d", sp.Endpoints[i].Addr.As4()[3]%100)
			}
		}
		return state
	})
}

func benchFull(b *testing.B, sizes []int, nodeName string, makeState func(int) *proxy.State) {
	proxytest.RequireRoot(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("mode=nftables/services=%d", n), func(b *testing.B) {
			state := makeState(n)
			baseWall, baseCPU := nftLoad(b, baselineRuleset(state))
			var elements int
			var cpu time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				node := proxytest.NewNetns(b, "gnft-bench")
				p, err := New(Options{ClusterCIDR: netip.MustParsePrefix("10.128.0.0/9"), NodeName: nodeName})
				if err != nil {
					b.Fatal(err)
				}
				c0 := cpuTime(b)
				b.StartTimer()
				if err := node.Do(func() error { return p.Sync(context.Background(), state) }); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime(b) - c0
				elements = p.RuleCount()
				b.StartTimer()
			}
			b.StopTimer()
			report(b, elements, cpu, baseWall, baseCPU)
		})
	}
}

// BenchmarkIncrementalSync measures the sync after one service's
// endpoints change among N (all of them replaced, as in a rollout).
func BenchmarkIncrementalSync(b *testing.B) {
	benchIncremental(b, func(sp *proxy.ServicePort, i int) *proxy.ServicePort {
		return benchService(serviceIndex(sp), i+1)
	})
}

// BenchmarkIncrementalSyncScale measures the sync after one service among
// N gains an endpoint or loses one (a scale up or down): that rewrites the
// service's rule, which makes the kernel validate the whole table.
func BenchmarkIncrementalSyncScale(b *testing.B) {
	benchIncremental(b, func(sp *proxy.ServicePort, i int) *proxy.ServicePort {
		next := benchService(serviceIndex(sp), 0)
		if len(sp.Endpoints) == benchEndpoints {
			next.Endpoints = append(next.Endpoints, proxy.Endpoint{Addr: netip.AddrFrom4([4]byte{10, 127, byte(i >> 8), byte(i)}), Port: 8080})
		}
		return next
	})
}

// benchIncremental syncs N services, then measures the syncs after change
// replaces one of them (i counts the syncs).
func benchIncremental(b *testing.B, change func(sp *proxy.ServicePort, i int) *proxy.ServicePort) {
	proxytest.RequireRoot(b)
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("mode=nftables/services=%d", n), func(b *testing.B) {
			node := proxytest.NewNetns(b, "gnft-bench")
			p, err := New(Options{ClusterCIDR: netip.MustParsePrefix("10.128.0.0/9")})
			if err != nil {
				b.Fatal(err)
			}
			state := benchState(n)
			if err := node.Do(func() error { return p.Sync(context.Background(), state) }); err != nil {
				b.Fatal(err)
			}
			// Baseline: nft -f of the whole ruleset, the cost of a
			// change for a proxy that reloads everything.
			baseWall, baseCPU := nftLoad(b, baselineRuleset(state))
			var cpu time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				next := make([]*proxy.ServicePort, len(state.Services))
				copy(next, state.Services)
				k := (i * 7919) % n
				next[k] = change(next[k], i)
				state = &proxy.State{Services: next}
				c0 := cpuTime(b)
				b.StartTimer()
				if err := node.Do(func() error { return p.Sync(context.Background(), state) }); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime(b) - c0
				b.StartTimer()
			}
			b.StopTimer()
			report(b, p.RuleCount(), cpu, baseWall, baseCPU)
			if err := node.Do(func() error { return p.Cleanup(context.Background()) }); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// serviceIndex recovers i from benchService's name.
func serviceIndex(sp *proxy.ServicePort) int {
	var i int
	fmt.Sscanf(sp.Name.Name, "svc%d", &i)
	return i
}
