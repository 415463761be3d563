package proxytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gantryhq/gantry/internal/netnsutil"
)

// Netns is a named network namespace (ip netns) made for a test.
type Netns struct {
	Name string
}

// Path is the namespace's bind mount, for APIs that take a file.
func (n *Netns) Path() string { return "/run/netns/" + n.Name }

// Do runs fn on an OS thread switched into the namespace (see
// netnsutil.Do). Sockets fn opens and processes it starts belong to the
// namespace; goroutines fn starts do not.
func (n *Netns) Do(fn func() error) error { return netnsutil.Do(n.Path(), fn) }

// Run runs a command in the namespace and returns its combined output.
func (n *Netns) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("netns %s: %s %s: %w: %s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Dialer dials from inside the namespace.
func (n *Netns) Dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := n.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// RequireRoot skips the test when it cannot make network namespaces. The
// project's test command runs as root, so on CI these tests run.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root for network namespaces (hack/test runs as root)")
	}
	for _, tool := range []string{"ip", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("%s not installed (hack/test installs iproute2 and procps): %v", tool, err)
		}
	}
}

// NewNetns makes a network namespace named prefix-<random> with its
// loopback up, and deletes it when the test ends (pass or fail).
func NewNetns(tb testing.TB, prefix string) *Netns {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	n := &Netns{Name: prefix + "-" + hex.EncodeToString(b[:])}
	ip(tb, "netns", "add", n.Name)
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			tb.Errorf("delete netns %s: %v: %s", n.Name, err, out)
		}
	})
	ip(tb, "-n", n.Name, "link", "set", "lo", "up")
	return n
}

// ip runs the ip command and fails the test on error.
func ip(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Link connects a and b with a veth pair: aName in a with address aAddr
// (CIDR form), bName in b with bAddr. Both ends are up. Deleting a
// namespace deletes the pair.
func Link(tb testing.TB, a *Netns, aName, aAddr string, b *Netns, bName, bAddr string) {
	tb.Helper()
	ip(tb, "-n", a.Name, "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	ip(tb, "-n", a.Name, "addr", "add", aAddr, "dev", aName)
	ip(tb, "-n", b.Name, "addr", "add", bAddr, "dev", bName)
	ip(tb, "-n", a.Name, "link", "set", aName, "up")
	ip(tb, "-n", b.Name, "link", "set", bName, "up")
}
