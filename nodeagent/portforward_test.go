package nodeagent_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	krand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// startPortForwardAgent runs a node agent for node on rt, serving its API
// on 127.0.0.1 (where the API server of cs proxies pods/portforward to),
// until the test ends.
func startPortForwardAgent(t *testing.T, node string, cs kubernetes.Interface, rt runtime.Runtime) {
	t.Helper()
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: node, Client: cs, Runtime: rt,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
		RenewInterval: time.Second, StatusUpdateInterval: time.Second, SyncInterval: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})
}

// waitPodRunning waits until pod default/name runs and has an IP.
func waitPodRunning(t *testing.T, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, "pod "+name+" to run", time.Minute, func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		pod = p
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "", err
	})
	return pod
}

// forwardPorts starts client-go's port forwarder for ports of pod
// default/name through the API server's pods/portforward, over SPDY, or
// SPDY tunnelled in a WebSocket, and waits until it listens. The caller
// closes stopCh; errc then gets ForwardPorts' result.
func forwardPorts(t *testing.T, cs kubernetes.Interface, name string, websocket bool, ports ...string) (fw *portforward.PortForwarder, stopCh chan struct{}, errc chan error) {
	t.Helper()
	cfg := &rest.Config{Host: apiHost(cs)}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(name).SubResource("portforward").URL()
	var dialer httpstream.Dialer
	if websocket {
		var err error
		dialer, err = portforward.NewSPDYOverWebsocketDialer(u, cfg)
		require.NoError(t, err)
	} else {
		tr, up, err := spdy.RoundTripperFor(cfg)
		require.NoError(t, err)
		dialer = spdy.NewDialer(up, &http.Client{Transport: tr}, http.MethodPost, u)
	}
	var err error
	stopCh, readyCh := make(chan struct{}), make(chan struct{})
	fw, err = portforward.New(dialer, ports, stopCh, readyCh, io.Discard, io.Discard)
	require.NoError(t, err)
	errc = make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-readyCh:
	case err := <-errc:
		t.Fatalf("port forwarding failed: %v", err)
	case <-time.After(30 * time.Second):
		close(stopCh)
		t.Fatal("port forwarding did not get ready")
	}
	return fw, stopCh, errc
}

// greeter listens on addr and answers every connection with "hello " and
// the peer's IP, then closes it; it stops when the test ends.
func greeter(t *testing.T, addr string) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = fmt.Fprintf(c, "hello %s", c.RemoteAddr().(*net.TCPAddr).IP)
			_ = c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr)
}

// TestPortForwardWithoutNetNS: with a runtime that names no network
// namespace (the fake), the agent connects to the pod's IP from the node;
// with host networking, to 127.0.0.1 on the node. The pods' "servers" are
// listeners of the test, each on the one address the agent must dial.
func TestPortForwardWithoutNetNS(t *testing.T) {
	// A random 127.x.y.0/24 as the pod network: its addresses are the
	// node's loopback, so a listener of the test stands in for the pod.
	n, err := rand.Int(rand.Reader, big.NewInt(1<<16))
	require.NoError(t, err)
	v := n.Int64()
	cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(v >> 8), byte(v), 0}), 24)
	rt, err := fake.New(fake.Options{Images: []string{"app:1"}, PodCIDR: cidr})
	require.NoError(t, err)
	node := "node-" + krand.String(6)
	cs := apiServer(t)
	startPortForwardAgent(t, node, cs, rt)

	for _, tc := range []struct {
		name        string
		hostNetwork bool
		// listen returns the address the pod's server listens on.
		listen func(pod *corev1.Pod) string
	}{
		{"pod IP", false, func(pod *corev1.Pod) string { return net.JoinHostPort(pod.Status.PodIP, "0") }},
		{"host network", true, func(*corev1.Pod) string { return "127.0.0.1:0" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "app-" + krand.String(5)
			_, err := cs.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PodSpec{
					NodeName: node, HostNetwork: tc.hostNetwork,
					Containers: []corev1.Container{{Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever}},
				},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			pod := waitPodRunning(t, cs, name)
			if !tc.hostNetwork {
				require.True(t, cidr.Contains(netip.MustParseAddr(pod.Status.PodIP)), "pod IP %s not in %s", pod.Status.PodIP, cidr)
			}
			srv := greeter(t, tc.listen(pod))

			fw, stopCh, errc := forwardPorts(t, cs, name, false, fmt.Sprintf("0:%d", srv.Port))
			defer func() {
				close(stopCh)
				require.NoError(t, <-errc)
			}()
			ports, err := fw.GetPorts()
			require.NoError(t, err)
			require.Len(t, ports, 1)
			for range 2 { // several connections over one session
				c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
				require.NoError(t, err)
				require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
				got, err := io.ReadAll(c)
				_ = c.Close()
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(string(got), "hello "), "the server's greeting: %q", got)
			}
		})
	}
}
