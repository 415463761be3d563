package overlay_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/gantryhq/gantry/internal/netnsutil"
	"github.com/gantryhq/gantry/overlay/internal/host"
	"github.com/gantryhq/gantry/overlay/overlaytest"
)

// TestBulkTCPKeepsGSO sends bulk TCP from a pod on one host to a pod on
// another and checks, for each backend, that it crosses the underlay and
// reaches the pod as GSO packets of many segments: nothing the overlay sets
// up (the vxlan device, the bridge, the forwarding and masquerade rules)
// makes the kernel segment them on the way, which would cost a pass
// through the whole stack per MTU-sized segment (BenchmarkOverlayThroughput
// measured about 58 kB per packet on both the pod path and the underlay).
func TestBulkTCPKeepsGSO(t *testing.T) {
	t.Parallel()
	const (
		port  = 5301
		total = 64 << 20
		// minAvg is well above one segment (the underlay's MTU is 1500)
		// and well below a GSO packet (up to 64 kB).
		minAvg = 6000
	)
	for _, bc := range backends {
		t.Run("backend="+bc.name, func(t *testing.T) {
			t.Parallel()
			c, client, server := twoHosts(t, bc)
			received := sink(t, server.NS, server.Addr, port)

			underlay := func() *netlink.LinkStatistics { return linkStats(t, c.Hosts[0].NSPath(), overlaytest.Iface) }
			pod := func() *netlink.LinkStatistics { return linkStats(t, overlaytest.NSPath(server.NS), "eth0") }
			u0, p0 := underlay(), pod()
			send(t, client.NS, server.Addr, port, total)
			select {
			case n := <-received:
				if n != total {
					t.Fatalf("sink received %d bytes, want %d", n, total)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("sink did not finish within 30s")
			}
			u1, p1 := underlay(), pod()
			t.Logf("%s on host 0: %d packets, %d bytes each; eth0 of the pod on host 1: %d packets, %d bytes each",
				overlaytest.Iface, u1.TxPackets-u0.TxPackets, perPacket(u1.TxBytes-u0.TxBytes, u1.TxPackets-u0.TxPackets),
				p1.RxPackets-p0.RxPackets, perPacket(p1.RxBytes-p0.RxBytes, p1.RxPackets-p0.RxPackets))

			if avg := perPacket(u1.TxBytes-u0.TxBytes, u1.TxPackets-u0.TxPackets); avg < minAvg {
				t.Errorf("host 0 sent %d packets, %d bytes each on average, on %s: GSO packets were segmented before they left (want over %d bytes)",
					u1.TxPackets-u0.TxPackets, avg, overlaytest.Iface, minAvg)
			}
			if avg := perPacket(p1.RxBytes-p0.RxBytes, p1.RxPackets-p0.RxPackets); avg < minAvg {
				t.Errorf("the pod on host 1 received %d packets, %d bytes each on average: GSO packets were segmented on the way (want over %d bytes)",
					p1.RxPackets-p0.RxPackets, avg, minAvg)
			}
		})
	}
}

func perPacket(bytes, packets uint64) uint64 {
	if packets == 0 {
		return 0
	}
	return bytes / packets
}

// linkStats returns the counters of link name in the namespace at nsPath.
func linkStats(t *testing.T, nsPath, name string) *netlink.LinkStatistics {
	t.Helper()
	h, err := host.Open(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s in %s: %v", name, nsPath, err)
	}
	if l.Attrs().Statistics == nil {
		t.Fatalf("link %s in %s: no statistics", name, nsPath)
	}
	return l.Attrs().Statistics
}

// sink accepts one TCP connection on addr:port in namespace ns, reads it to
// the end and sends the byte count on the returned channel. It stops in
// t.Cleanup.
func sink(t *testing.T, ns string, addr netip.Addr, port int) <-chan int64 {
	t.Helper()
	var l net.Listener
	err := netnsutil.Do(overlaytest.NSPath(ns), func() (err error) {
		l, err = net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	done := make(chan int64, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()
	t.Cleanup(func() {
		l.Close()
		<-stopped
	})
	return done
}

// send connects from namespace ns to dst:port and writes n bytes.
func send(t *testing.T, ns string, dst netip.Addr, port, n int) {
	t.Helper()
	var c net.Conn
	err := netnsutil.Do(overlaytest.NSPath(ns), func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(dst, uint16(port)).String(), 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("tcp from %s to %s:%d: %v", ns, dst, port, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 1<<20)
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf[:min(len(buf), n-sent)]); err != nil {
			t.Fatalf("tcp from %s to %s:%d: %v", ns, dst, port, err)
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("tcp from %s to %s:%d: close: %v", ns, dst, port, err)
	}
}
