package proxytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/proxy"
)

// Backend is what the suite needs of a proxier implementation.
type Backend struct {
	// New returns a proxier that programs the network namespace node.
	// The suite calls its methods inside node.Do, so implementations that
	// run commands or open netlink sockets in the current namespace work
	// unchanged. Options: ClusterCIDR is Topology.ClusterCIDR.
	New func(t *testing.T, node *Netns, clusterCIDR netip.Prefix) proxy.Proxier
	// Dump returns the rules the proxier owns in node, in a stable textual
	// form (no counters); "" when it owns none. It checks idempotence and
	// cleanup.
	Dump func(t *testing.T, node *Netns) string
}

// Topology is the suite's little network: a node running the proxier, two
// pods and a client pod behind it (each on its own point-to-point link, so
// all their traffic crosses the node), and a remote host on another link.
type Topology struct {
	Node, Pod1, Pod2, Client, Remote *Netns
	ClusterCIDR                      netip.Prefix
	// Pod1IP and Pod2IP are the pods' addresses; NodeIP is the node's
	// address on the remote host's link.
	Pod1IP, Pod2IP, NodeIP netip.Addr
}

const (
	httpPort = 8080
	udpPort  = 5353
)

// NewTopology builds the network and starts an HTTP server (port 8080) and
// a UDP echo server (port 5353) in each pod; both answer with the pod's
// name ("pod1", "pod2"). Everything is removed when the test ends.
func NewTopology(t *testing.T) *Topology {
	t.Helper()
	RequireRoot(t)
	tp := &Topology{
		Node:        NewNetns(t, "gpx-node"),
		Pod1:        NewNetns(t, "gpx-pod1"),
		Pod2:        NewNetns(t, "gpx-pod2"),
		Client:      NewNetns(t, "gpx-cli"),
		Remote:      NewNetns(t, "gpx-host"),
		ClusterCIDR: netip.MustParsePrefix("10.250.0.0/16"),
		Pod1IP:      netip.MustParseAddr("10.250.1.2"),
		Pod2IP:      netip.MustParseAddr("10.250.2.2"),
		NodeIP:      netip.MustParseAddr("192.168.250.1"),
	}
	for i, p := range []*Netns{tp.Pod1, tp.Pod2, tp.Client} {
		Link(t, tp.Node, fmt.Sprintf("veth%d", i+1), fmt.Sprintf("10.250.%d.1/24", i+1), p, "eth0", fmt.Sprintf("10.250.%d.2/24", i+1))
		ip(t, "-n", p.Name, "route", "add", "default", "via", fmt.Sprintf("10.250.%d.1", i+1))
	}
	Link(t, tp.Node, "vhost", "192.168.250.1/24", tp.Remote, "eth0", "192.168.250.2/24")
	ip(t, "-n", tp.Remote.Name, "route", "add", "default", "via", "192.168.250.1")
	// The node's default route leads to the remote host, so that traffic
	// the node itself sends to a cluster IP has a route before DNAT.
	ip(t, "-n", tp.Node.Name, "route", "add", "default", "via", "192.168.250.2")
	ctx := context.Background()
	if _, err := tp.Node.Run(ctx, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		t.Fatal(err)
	}
	serve(t, tp.Pod1, "pod1")
	serve(t, tp.Pod2, "pod2")
	return tp
}

// serve starts the pod's servers inside its namespace.
func serve(t *testing.T, ns *Netns, name string) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	err := ns.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", httpPort)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", udpPort))
		return err
	})
	if err != nil {
		t.Fatalf("%s: listen: %v", name, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(ln) }()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name), from)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		pc.Close()
		wg.Wait()
	})
}

// Run runs the behaviour suite against b: real traffic through the rules
// the proxier programs in a network namespace.
func Run(t *testing.T, b Backend) {
	tp := NewTopology(t)
	p := b.New(t, tp.Node, tp.ClusterCIDR)
	ctx := context.Background()
	sync := func(t *testing.T, s *proxy.State) {
		t.Helper()
		if err := tp.Node.Do(func() error { return p.Sync(ctx, s) }); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
	t.Cleanup(func() {
		if err := tp.Node.Do(func() error { return p.Cleanup(ctx) }); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})

	ep1 := proxy.Endpoint{Addr: tp.Pod1IP, Port: httpPort}
	ep2 := proxy.Endpoint{Addr: tp.Pod2IP, Port: httpPort}
	udp1 := proxy.Endpoint{Addr: tp.Pod1IP, Port: udpPort}
	udp2 := proxy.Endpoint{Addr: tp.Pod2IP, Port: udpPort}
	web := func(eps ...proxy.Endpoint) *proxy.ServicePort {
		return &proxy.ServicePort{
			Name:      proxy.ServicePortName{Namespace: "default", Name: "web", Port: "http", Protocol: v1.ProtocolTCP},
			ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 80, NodePort: 30080,
			ExternalIPs: []netip.Addr{netip.MustParseAddr("198.51.100.7")},
			Endpoints:   eps,
		}
	}
	dns := func(eps ...proxy.Endpoint) *proxy.ServicePort {
		return &proxy.ServicePort{
			Name:      proxy.ServicePortName{Namespace: "default", Name: "dns", Protocol: v1.ProtocolUDP},
			ClusterIP: netip.MustParseAddr("10.96.0.53"), Port: 53, NodePort: 30053,
			Endpoints: eps,
		}
	}
	sticky := func(eps ...proxy.Endpoint) *proxy.ServicePort {
		return &proxy.ServicePort{
			Name:      proxy.ServicePortName{Namespace: "default", Name: "sticky", Protocol: v1.ProtocolTCP},
			ClusterIP: netip.MustParseAddr("10.96.0.20"), Port: 80,
			AffinityTimeout: time.Minute,
			Endpoints:       eps,
		}
	}
	empty := func() *proxy.ServicePort {
		return &proxy.ServicePort{
			Name:      proxy.ServicePortName{Namespace: "default", Name: "empty", Protocol: v1.ProtocolTCP},
			ClusterIP: netip.MustParseAddr("10.96.0.30"), Port: 80, NodePort: 30030,
		}
	}
	full := func() *proxy.State {
		return proxy.NewState(web(ep1, ep2), dns(udp1, udp2), sticky(ep1, ep2), empty())
	}
	sync(t, full())

	t.Run("ClusterIPBalancesOverEndpoints", func(t *testing.T) {
		seen := countHTTP(t, tp.Client, "10.96.0.10:80", 100)
		if seen["pod1"] == 0 || seen["pod2"] == 0 {
			t.Fatalf("answers over 100 requests: %v; want both pods", seen)
		}
	})
	t.Run("ClusterIPFromTheNodeItself", func(t *testing.T) {
		seen := countHTTP(t, tp.Node, "10.96.0.10:80", 40)
		if seen["pod1"] == 0 || seen["pod2"] == 0 {
			t.Fatalf("answers over 40 requests: %v; want both pods", seen)
		}
	})
	t.Run("NodePortFromAnotherHost", func(t *testing.T) {
		seen := countHTTP(t, tp.Remote, netip.AddrPortFrom(tp.NodeIP, 30080).String(), 60)
		if seen["pod1"] == 0 || seen["pod2"] == 0 {
			t.Fatalf("answers over 60 requests: %v; want both pods", seen)
		}
	})
	t.Run("ExternalIPFromAnotherHost", func(t *testing.T) {
		seen := countHTTP(t, tp.Remote, "198.51.100.7:80", 60)
		if seen["pod1"] == 0 || seen["pod2"] == 0 {
			t.Fatalf("answers over 60 requests: %v; want both pods", seen)
		}
	})
	t.Run("UDPClusterIPAndNodePort", func(t *testing.T) {
		seen := map[string]int{}
		for range 40 {
			seen[udpAsk(t, tp.Client, "10.96.0.53:53")]++
		}
		if seen["pod1"] == 0 || seen["pod2"] == 0 {
			t.Fatalf("answers over 40 datagrams: %v; want both pods", seen)
		}
		if got := udpAsk(t, tp.Remote, netip.AddrPortFrom(tp.NodeIP, 30053).String()); got != "pod1" && got != "pod2" {
			t.Fatalf("UDP node port answered %q", got)
		}
	})
	t.Run("SessionAffinityPinsAClient", func(t *testing.T) {
		seen := countHTTP(t, tp.Client, "10.96.0.20:80", 30)
		if len(seen) != 1 {
			t.Fatalf("answers over 30 requests with ClientIP affinity: %v; want one pod", seen)
		}
	})
	t.Run("NoEndpointsIsRejectedAtOnce", func(t *testing.T) {
		for _, target := range []struct {
			from *Netns
			addr string
		}{{tp.Client, "10.96.0.30:80"}, {tp.Node, "10.96.0.30:80"}, {tp.Remote, netip.AddrPortFrom(tp.NodeIP, 30030).String()}} {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := target.from.Dialer()(ctx, "tcp4", target.addr)
			cancel()
			if err == nil {
				c.Close()
				t.Fatalf("dial %s from %s: connected to a service without endpoints", target.addr, target.from.Name)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial %s from %s: %v; want connection refused", target.addr, target.from.Name, err)
			}
		}
	})
	t.Run("SyncIsIdempotent", func(t *testing.T) {
		before := b.Dump(t, tp.Node)
		sync(t, full())
		sync(t, full())
		if after := b.Dump(t, tp.Node); after != before {
			t.Fatalf("rules changed on a sync without changes:\n--- before\n%s\n--- after\n%s", before, after)
		}
	})
	t.Run("UDPFlowMovesWhenItsEndpointGoes", func(t *testing.T) {
		// Find a flow (one source port) that the proxy sent to pod1.
		var conn net.Conn
		for i := 0; conn == nil; i++ {
			if i == 50 {
				t.Fatal("no flow reached pod1 in 50 tries")
			}
			c := dialUDP(t, tp.Client, "10.96.0.53:53")
			if udpRoundTrip(t, c) == "pod1" {
				conn = c
			} else {
				c.Close()
			}
		}
		defer conn.Close()
		sync(t, proxy.NewState(web(ep1, ep2), dns(udp2), sticky(ep1, ep2), empty()))
		// pod1 still runs its server: only a cleared conntrack entry moves
		// the flow.
		if got := udpRoundTrip(t, conn); got != "pod2" {
			t.Fatalf("the flow's next answer came from %q after pod1 left the service; want pod2", got)
		}
	})
	t.Run("RemovedEndpointGetsNoTraffic", func(t *testing.T) {
		sync(t, proxy.NewState(web(ep2), dns(udp2), sticky(ep2), empty()))
		seen := countHTTP(t, tp.Client, "10.96.0.10:80", 40)
		if seen["pod1"] != 0 {
			t.Fatalf("answers after pod1 left the service: %v", seen)
		}
		seen = countHTTP(t, tp.Remote, netip.AddrPortFrom(tp.NodeIP, 30080).String(), 20)
		if seen["pod1"] != 0 {
			t.Fatalf("node port answers after pod1 left the service: %v", seen)
		}
	})
	t.Run("EndpointsReturn", func(t *testing.T) {
		sync(t, proxy.NewState(web(), dns(udp1, udp2), sticky(ep2), empty()))
		if _, err := tp.Client.Dialer()(ctx, "tcp4", "10.96.0.10:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial web with no endpoints: %v; want connection refused", err)
		}
		sync(t, full())
		seen := countHTTP(t, tp.Client, "10.96.0.10:80", 60)
		if seen["pod1"] == 0 || seen["pod2"] == 0 {
			t.Fatalf("answers over 60 requests: %v; want both pods", seen)
		}
	})
	t.Run("RemovedServiceLeavesNoRules", func(t *testing.T) {
		sync(t, proxy.NewState(dns(udp1, udp2)))
		if d := b.Dump(t, tp.Node); strings.Contains(d, "default/web") || strings.Contains(d, "10.96.0.10") {
			t.Fatalf("rules of the removed service remain:\n%s", d)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if c, err := tp.Client.Dialer()(ctx, "tcp4", "10.96.0.10:80"); err == nil {
			c.Close()
			t.Fatal("a removed service still answers")
		}
	})
	t.Run("NewProxierAdoptsAndRepairs", func(t *testing.T) {
		// A restarted proxy finds the rules of the previous process and
		// removes what is no longer wanted.
		sync(t, full())
		p2 := b.New(t, tp.Node, tp.ClusterCIDR)
		if err := tp.Node.Do(func() error { return p2.Sync(ctx, proxy.NewState(web(ep1))) }); err != nil {
			t.Fatal(err)
		}
		if d := b.Dump(t, tp.Node); strings.Contains(d, "default/dns") || strings.Contains(d, "default/sticky") {
			t.Fatalf("rules of services the new proxier does not know remain:\n%s", d)
		}
		if seen := countHTTP(t, tp.Client, "10.96.0.10:80", 10); seen["pod1"] != 10 {
			t.Fatalf("answers: %v; want pod1 only", seen)
		}
		p = p2
	})
	t.Run("CleanupRemovesEverything", func(t *testing.T) {
		if err := tp.Node.Do(func() error { return p.Cleanup(ctx) }); err != nil {
			t.Fatal(err)
		}
		if d := b.Dump(t, tp.Node); d != "" {
			t.Fatalf("rules left after Cleanup:\n%s", d)
		}
		// A second Cleanup finds nothing and succeeds.
		if err := tp.Node.Do(func() error { return p.Cleanup(ctx) }); err != nil {
			t.Fatal(err)
		}
	})
}

// countHTTP makes n requests, each on a new connection, from ns to addr and
// counts the answers by body.
func countHTTP(t *testing.T, ns *Netns, addr string, n int) map[string]int {
	t.Helper()
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{DialContext: ns.Dialer(), DisableKeepAlives: true},
	}
	seen := map[string]int{}
	for range n {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("GET %s from %s: %v", addr, ns.Name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s from %s: %v", addr, ns.Name, err)
		}
		seen[string(body)]++
	}
	return seen
}

func dialUDP(t *testing.T, ns *Netns, addr string) net.Conn {
	t.Helper()
	c, err := ns.Dialer()(context.Background(), "udp4", addr)
	if err != nil {
		t.Fatalf("dial udp %s from %s: %v", addr, ns.Name, err)
	}
	return c
}

// udpRoundTrip sends a datagram on c and returns the answer, retrying a
// few times since datagrams may be lost.
func udpRoundTrip(t *testing.T, c net.Conn) string {
	t.Helper()
	buf := make([]byte, 64)
	var lastErr error
	for range 5 {
		if _, err := c.Write([]byte("who")); err != nil {
			lastErr = err
			continue
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
		lastErr = err
	}
	t.Fatalf("udp %s: no answer: %v", c.RemoteAddr(), lastErr)
	return ""
}

// udpAsk sends one question on a new socket and returns the answer.
func udpAsk(t *testing.T, ns *Netns, addr string) string {
	t.Helper()
	c := dialUDP(t, ns, addr)
	defer c.Close()
	return udpRoundTrip(t, c)
}
