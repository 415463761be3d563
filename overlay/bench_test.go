package overlay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/hostgw"
	"github.com/gantryhq/gantry/overlay/overlaytest"
	"github.com/gantryhq/gantry/overlay/vxlan"
)

// iperfSeconds is the length of one iperf3 run.
const iperfSeconds = 3

// backendCase is one backend the benchmark and TestBulkTCPKeepsGSO run
// over.
type backendCase struct {
	name    string
	backend overlay.BackendConfig
	new     func(testing.TB, *overlaytest.Host) overlay.Backend
}

var backends = []backendCase{
	{"vxlan", overlay.BackendConfig{Type: overlay.TypeVXLAN}, func(t testing.TB, h *overlaytest.Host) overlay.Backend {
		be, err := vxlan.New(vxlan.Options{Namespace: h.NSPath(), Interface: overlaytest.Iface})
		if err != nil {
			t.Fatal(err)
		}
		return be
	}},
	{"hostgw", overlay.BackendConfig{Type: overlay.TypeHostGW}, func(t testing.TB, h *overlaytest.Host) overlay.Backend {
		be, err := hostgw.New(hostgw.Options{Namespace: h.NSPath(), Interface: overlaytest.Iface})
		if err != nil {
			t.Fatal(err)
		}
		return be
	}},
}

// twoHosts starts two hosts on one L2 segment with backend bc, a pod on
// each, and returns them once the first pod reaches the second.
func twoHosts(t testing.TB, bc backendCase) (c *overlaytest.Cluster, client, server *overlaytest.Pod) {
	t.Helper()
	c = overlaytest.NewCluster(t, overlaytest.ClusterOptions{
		Backend:    bc.backend,
		Segments:   []int{0, 0},
		NewBackend: bc.new,
	})
	c.Start(0, 0)
	c.Start(1, 0)
	c.AddPods()
	client, server = c.Pods[0], c.Pods[1]
	overlaytest.Eventually(t, 20*time.Second, func() error { return overlaytest.Ping(client.NS, server.Addr) })
	return c, client, server
}

// BenchmarkOverlayThroughput measures TCP throughput with iperf3 from a pod
// on one host to a pod on another, for each backend, and host to host over
// the same veth underlay in the same iteration, and reports
//
//   - Gbit/s: the pod-to-pod throughput;
//   - underlay-Gbit/s: the host-to-host throughput;
//   - ratio-to-underlay: the first over the second.
//
// Run it as root:
//
//	go test ./overlay -run '^$' -bench BenchmarkOverlayThroughput
//
// The underlay is a veth pair through a bridge, as cheap as a link gets, so
// the pod path's extra hops weigh more than they would next to a real NIC.
// Both paths are CPU-bound, and both carry the same 58 kB GSO packets end
// to end (TestBulkTCPKeepsGSO checks that nothing segments them), so the
// ratio is about the underlay's CPU cost per byte over the pod path's. Per
// packet the pod path adds two veth hops, the pod bridge on both hosts
// (with br_netfilter, which Docker turns on), two IP forwards with their
// route lookups, conntrack and FORWARD rules, and for vxlan the
// encapsulation, the decapsulation and a second GRO and IP receive. perf
// on the benchmark's topology measured 1.3 times the underlay's CPU time
// per byte for vxlan and 1.2 times for host-gw; the overlay's own FORWARD
// rules are about 3% of the host-gw path (iptables-nft's interpreter and
// counters), the rest is the kernel's per-hop work.
//
// On the shared 2-core development machine (kernel 6.18, load 1 to 10 from
// other builds and benchmarks), 18 samples from six -benchtime 3x -count 3
// runs gave ratios of 0.62 to 0.83 for vxlan, median 0.74, and 0.71 to
// 1.03 for host-gw, median 0.88; the goals (0.85 and 0.95) are out
// of reach on this topology. Use -count 5 or more and compare medians.
func BenchmarkOverlayThroughput(b *testing.B) {
	overlaytest.RequireRoot(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Fatal("iperf3 not found; install iperf3 (hack/lib.sh ensure_packages)")
	}
	for _, bc := range backends {
		b.Run("backend="+bc.name, func(b *testing.B) {
			c, client, server := twoHosts(b, bc)
			iperfServer(b, server.NS)
			iperfServer(b, c.Hosts[1].NS)

			var pod, under float64
			for b.Loop() {
				under += iperf(b, c.Hosts[0].NS, c.Hosts[1].PublicIP())
				pod += iperf(b, client.NS, server.Addr)
			}
			n := float64(b.N)
			b.ReportMetric(pod/n/1e9, "Gbit/s")
			b.ReportMetric(under/n/1e9, "underlay-Gbit/s")
			b.ReportMetric(pod/under, "ratio-to-underlay")
		})
	}
}

// iperfServer runs an iperf3 server in namespace ns until the benchmark
// ends.
func iperfServer(b *testing.B, ns string) {
	b.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "iperf3", "--server", "--port", "5201")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// iperf runs an iperf3 client in namespace ns against dst and returns the
// received bits per second. It retries while the server is starting.
func iperf(b *testing.B, ns string, dst netip.Addr) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		out, err := exec.Command("ip", "netns", "exec", ns, "iperf3", "--client", dst.String(), "--port", "5201",
			"--time", fmt.Sprint(iperfSeconds), "--json").Output()
		var res struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		jerr := json.Unmarshal(out, &res)
		if err == nil && jerr == nil && res.Error == "" && res.End.SumReceived.BitsPerSecond > 0 {
			return res.End.SumReceived.BitsPerSecond
		}
		select {
		case <-ctx.Done():
			b.Fatalf("iperf3 from %s to %s: %v %v %s", ns, dst, err, jerr, res.Error)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
