package iptables

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/proxytest"
)

// benchState is n services of 10 endpoints each, node ports on the first
// 2,000 (the node port range is 2,768 wide).
func benchState(n int, variant int) *proxy.State {
	sps := make([]*proxy.ServicePort, n)
	for i := range n {
		sp := &proxy.ServicePort{
			Name:      proxy.ServicePortName{Namespace: "bench", Name: fmt.Sprintf("svc-%05d", i), Port: "http", Protocol: v1.ProtocolTCP},
			ClusterIP: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}),
			Port:      80,
		}
		if i < 2000 {
			sp.NodePort = int32(30000 + i)
		}
		for e := range 10 {
			sp.Endpoints = append(sp.Endpoints, proxy.Endpoint{
				Addr: netip.AddrFrom4([4]byte{10, byte(100 + e + variant), byte(i >> 8), byte(i)}), Port: 8080,
			})
		}
		sps[i] = sp
	}
	return proxy.NewState(sps...)
}

// modes are the iptables variants benchmarked. iptables-restore on the
// nf_tables backend grows quadratically with the number of chains (7 s at
// 1,000 services, minutes at 10,000), so its larger sizes run only with
// GANTRY_BENCH_SLOW=1.
var modes = []string{"iptables-legacy", "iptables-nft"}

func skipSlow(b *testing.B, mode string, n int) {
	if mode == "iptables-nft" && n > 1000 && os.Getenv("GANTRY_BENCH_SLOW") == "" {
		b.Skip("iptables-nft-restore is quadratic in chains: set GANTRY_BENCH_SLOW=1 to run it")
	}
}

// benchProxier returns a proxier acting in a fresh namespace, recording
// each restore input it sends.
func benchProxier(b *testing.B, node *proxytest.Netns, mode string, last *[]byte) *Proxier {
	var p *Proxier
	if err := node.Do(func() error {
		var err error
		p, err = New(Options{Command: mode, ClusterCIDR: netip.MustParsePrefix("10.100.0.0/14")})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	run := p.run
	p.run = func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
		if name == mode+"-restore" {
			*last = stdin
		}
		return run(ctx, stdin, name, args...)
	}
	return p
}

// rawRestore times the restore of input by the bare tool: the baseline.
func rawRestore(b *testing.B, node *proxytest.Netns, mode string, input []byte) time.Duration {
	var d time.Duration
	if err := node.Do(func() error {
		start := time.Now()
		_, err := runCommand(context.Background(), input, mode+"-restore", "--wait", "--noflush")
		d = time.Since(start)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return d
}

func do(b *testing.B, node *proxytest.Netns, fn func() error) {
	if err := node.Do(fn); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFullSync programs N services into an empty namespace, against
// the bare restore of the same rules.
func BenchmarkFullSync(b *testing.B) {
	proxytest.RequireRoot(b)
	ctx := context.Background()
	for _, mode := range modes {
		for _, n := range []int{1000, 5000, 10000} {
			b.Run(fmt.Sprintf("mode=%s/services=%d", mode, n), func(b *testing.B) {
				skipSlow(b, mode, n)
				node := proxytest.NewNetns(b, "gpb")
				state := benchState(n, 0)
				var input []byte
				var baseline time.Duration
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					p := benchProxier(b, node, mode, &input)
					do(b, node, func() error { return p.Cleanup(ctx) })
					b.StartTimer()
					do(b, node, func() error { return p.Sync(ctx, state) })
					b.StopTimer()
					synced := input
					b.ReportMetric(float64(p.RuleCount()), "rules")
					do(b, node, func() error { return p.Cleanup(ctx) })
					// The baseline restores the same text (hooks
					// included) into the same empty tables.
					baseline += rawRestore(b, node, mode, synced)
					b.StartTimer()
				}
				b.StopTimer()
				per := baseline / time.Duration(b.N)
				b.ReportMetric(float64(per.Nanoseconds()), "baseline-ns")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(per.Nanoseconds()), "ratio-to-restore")
			})
		}
	}
}

// BenchmarkIncrementalSync changes the endpoints of one service among N
// already programmed, against the bare restore of the same partial input.
func BenchmarkIncrementalSync(b *testing.B) {
	proxytest.RequireRoot(b)
	ctx := context.Background()
	for _, mode := range modes {
		for _, n := range []int{10000} {
			b.Run(fmt.Sprintf("mode=%s/services=%d", mode, n), func(b *testing.B) {
				skipSlow(b, mode, n)
				node := proxytest.NewNetns(b, "gpb")
				var input []byte
				p := benchProxier(b, node, mode, &input)
				base := benchState(n, 0)
				do(b, node, func() error { return p.Sync(ctx, base) })
				// Two states that differ from base in one service's
				// endpoints, alternated so every sync is a change.
				variants := [2]*proxy.State{}
				for v := range variants {
					s := benchState(n, 0)
					s.Services[n/2] = benchState(n, 1+v).Services[n/2]
					variants[v] = s
				}
				var baseline time.Duration
				b.ResetTimer()
				for i := range b.N {
					do(b, node, func() error { return p.Sync(ctx, variants[i%2]) })
					b.StopTimer()
					baseline += rawRestore(b, node, mode, input)
					b.StartTimer()
				}
				b.StopTimer()
				b.ReportMetric(float64(p.RuleCount()), "rules")
				per := baseline / time.Duration(b.N)
				b.ReportMetric(float64(per.Nanoseconds()), "baseline-ns")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(per.Nanoseconds()), "ratio-to-restore")
			})
		}
	}
}
