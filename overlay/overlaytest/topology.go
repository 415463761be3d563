package overlaytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryhq/gantry/internal/netnsutil"
	"github.com/gantryhq/gantry/overlay/internal/host"
)

// RequireRoot skips t unless it runs as root, and fails it when a tool the
// topology needs is missing (the project's test command installs them).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("overlaytest: needs root to create network namespaces (run the tests as root, as hack/test does)")
	}
	for _, tool := range []string{"ip", "iptables", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("overlaytest: %s not found; install iproute2, iptables and busybox-static (hack/lib.sh ensure_packages)", tool)
		}
	}
}

var seq atomic.Int64

// uniqueID is "gov-<pid>-<n>": namespace names made from it are unique
// across the test processes of one machine.
func uniqueID() string {
	return fmt.Sprintf("gov-%d-%d", os.Getpid()%100000, seq.Add(1))
}

// Topology is the underlay of a test: a switch namespace with one bridge
// per L2 segment. Segment s is 10.99.<s>.0/24; the switch has .254 on each
// and routes between them.
type Topology struct {
	t      testing.TB
	id     string
	Switch string // namespace name of the switch
	hosts  int
	nsAdds int
}

// NewTopology makes a switch with the given number of segments.
func NewTopology(t testing.TB, segments int) *Topology {
	t.Helper()
	RequireRoot(t)
	tp := &Topology{t: t, id: uniqueID()}
	tp.Switch = tp.newNS("sw")
	for s := range segments {
		br := fmt.Sprintf("br%d", s)
		Exec(t, "ip", "-n", tp.Switch, "link", "add", br, "type", "bridge")
		Exec(t, "ip", "-n", tp.Switch, "addr", "add", fmt.Sprintf("10.99.%d.254/24", s), "dev", br)
		Exec(t, "ip", "-n", tp.Switch, "link", "set", br, "up")
	}
	if err := host.SetSysctl(NSPath(tp.Switch), "net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	return tp
}

// newNS creates a namespace named <id>-<role> with lo up, deleted in
// t.Cleanup.
func (tp *Topology) newNS(role string) string {
	name := tp.id + "-" + role
	Exec(tp.t, "ip", "netns", "add", name)
	tp.t.Cleanup(func() {
		if _, err := os.Stat(NSPath(name)); err != nil {
			return // deleted by the test
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			tp.t.Errorf("delete namespace %s: %v: %s", name, err, out)
		}
	})
	Exec(tp.t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// NSPath is the path of the named namespace.
func NSPath(name string) string { return "/var/run/netns/" + name }

// Host is a node: a namespace with eth0 on an L2 segment.
type Host struct {
	tp    *Topology
	Index int
	// NS is the namespace's name; NSPath(NS) its path.
	NS string
	// Addr is the address of eth0, the host's public IP.
	Addr netip.Prefix
	pods int
}

// Iface is the name of the host's underlay interface.
const Iface = "eth0"

// AddHost adds a host on segment, with address 10.99.<segment>.<n+1> and
// a default route via the switch.
func (tp *Topology) AddHost(segment int) *Host {
	t := tp.t
	t.Helper()
	i := tp.hosts
	tp.hosts++
	h := &Host{tp: tp, Index: i, NS: tp.newNS(fmt.Sprintf("h%d", i)),
		Addr: netip.MustParsePrefix(fmt.Sprintf("10.99.%d.%d/24", segment, i+1))}
	port := fmt.Sprintf("h%d", i)
	Exec(t, "ip", "-n", tp.Switch, "link", "add", port, "type", "veth", "peer", "name", Iface, "netns", h.NS)
	Exec(t, "ip", "-n", tp.Switch, "link", "set", port, "master", fmt.Sprintf("br%d", segment), "up")
	Exec(t, "ip", "-n", h.NS, "addr", "add", h.Addr.String(), "dev", Iface)
	Exec(t, "ip", "-n", h.NS, "link", "set", Iface, "up")
	Exec(t, "ip", "-n", h.NS, "route", "add", "default", "via", fmt.Sprintf("10.99.%d.254", segment))
	return h
}

// NSPath is the path of the host's namespace.
func (h *Host) NSPath() string { return NSPath(h.NS) }

// PublicIP is the host's underlay address.
func (h *Host) PublicIP() netip.Addr { return h.Addr.Addr() }

// Pod is a namespace with eth0 attached to its host's pod bridge.
type Pod struct {
	NS   string
	Addr netip.Addr
	Host *Host
	veth string // the host side
}

// AddPod adds a pod with address addr in subnet (which the bridge's
// address gw is in) and MTU mtu, attached to bridge.
func (h *Host) AddPod(bridge string, addr netip.Addr, subnet netip.Prefix, gw netip.Addr, mtu int) *Pod {
	t := h.tp.t
	t.Helper()
	p := &Pod{NS: h.tp.newNS(fmt.Sprintf("h%d-p%d", h.Index, h.pods)), Addr: addr, Host: h, veth: fmt.Sprintf("veth%d", h.pods)}
	h.pods++
	m := fmt.Sprint(mtu)
	Exec(t, "ip", "-n", h.NS, "link", "add", p.veth, "mtu", m, "type", "veth", "peer", "name", "eth0", "mtu", m, "netns", p.NS)
	Exec(t, "ip", "-n", h.NS, "link", "set", p.veth, "master", bridge, "up")
	Exec(t, "ip", "-n", p.NS, "addr", "add", netip.PrefixFrom(addr, subnet.Bits()).String(), "dev", "eth0")
	Exec(t, "ip", "-n", p.NS, "link", "set", "eth0", "up")
	Exec(t, "ip", "-n", p.NS, "route", "add", "default", "via", gw.String())
	return p
}

// Attach attaches the pod's veth to bridge again (after the bridge was
// deleted and recreated).
func (p *Pod) Attach(bridge string) {
	p.Host.tp.t.Helper()
	Exec(p.Host.tp.t, "ip", "-n", p.Host.NS, "link", "set", p.veth, "master", bridge, "up")
}

// Delete removes the pod's namespace and waits until the kernel, which
// destroys namespaces in the background, has removed its veth pair.
func (p *Pod) Delete() {
	t := p.Host.tp.t
	t.Helper()
	Exec(t, "ip", "netns", "del", p.NS)
	Eventually(t, 10*time.Second, func() error {
		nh, err := host.Open(p.Host.NSPath())
		if err != nil {
			return err
		}
		defer nh.Close()
		if _, err := nh.LinkByName(p.veth); !host.IsNotFound(err) {
			return errorf("veth %s of deleted pod %s still in %s (%v)", p.veth, p.NS, p.Host.NS, err)
		}
		return nil
	})
}

// Exec runs a command and fails t when it fails; it returns the output.
func Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Ping sends one ICMP echo from namespace ns to dst and waits up to two
// seconds for the reply.
func Ping(ns string, dst netip.Addr) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "busybox", "ping", "-c", "1", "-W", "2", dst.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %v: %s", dst, ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// Listen starts a TCP echo server on addr:port in namespace ns, stopped in
// t.Cleanup.
func Listen(t testing.TB, ns string, addr netip.Addr, port int) {
	t.Helper()
	var l net.Listener
	err := netnsutil.Do(NSPath(ns), func() (err error) {
		l, err = net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
}

// Dial connects from namespace ns to the echo server at dst:port, sends a
// message and checks it comes back, within timeout.
func Dial(ns string, dst netip.Addr, port int, timeout time.Duration) error {
	var c net.Conn
	err := netnsutil.Do(NSPath(ns), func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(dst, uint16(port)).String(), timeout)
		return err
	})
	if err != nil {
		return fmt.Errorf("tcp from %s to %s:%d: %w", ns, dst, port, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("hello from " + ns)
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("tcp from %s to %s:%d: %w", ns, dst, port, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("tcp from %s to %s:%d: %w", ns, dst, port, err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("tcp from %s to %s:%d: echo %q, want %q", ns, dst, port, got, msg)
	}
	return nil
}

// Eventually polls cond every 50ms until it returns nil or timeout passes,
// and fails t with its last error then.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after %v: %v", timeout, err)
		case <-tick.C:
		}
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// ListenWhoAmI starts a TCP server on addr:port in namespace ns that
// answers every connection with the source address it sees, stopped in
// t.Cleanup.
func ListenWhoAmI(t testing.TB, ns string, addr netip.Addr, port int) {
	t.Helper()
	var l net.Listener
	err := netnsutil.Do(NSPath(ns), func() (err error) {
		l, err = net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			c.Write([]byte(ap.Addr().String()))
			c.Close()
		}
	}()
}

// WhoAmI connects from namespace ns to a ListenWhoAmI server at dst:port
// and returns the source address the server saw.
func WhoAmI(ns string, dst netip.Addr, port int, timeout time.Duration) (netip.Addr, error) {
	var c net.Conn
	err := netnsutil.Do(NSPath(ns), func() (err error) {
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(dst, uint16(port)).String(), timeout)
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("tcp from %s to %s:%d: %w", ns, dst, port, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("tcp from %s to %s:%d: %w", ns, dst, port, err)
	}
	return netip.ParseAddr(string(b))
}

// Gateway is the switch's address on segment s, outside the cluster
// network: what pods reach through their host's masquerading.
func Gateway(segment int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("10.99.%d.254", segment))
}
