package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/portforward"
	clientportforward "k8s.io/client-go/tools/portforward"

	"github.com/gantryhq/gantry/internal/netnsutil"
)

// portForwardDialTimeout bounds connecting to a pod's port.
const portForwardDialTimeout = 10 * time.Second

// servePortForward serves GET and POST /portForward/{namespace}/{pod} (the
// route Handler registers) with the portforward.k8s.io protocol over
// SPDY/3.1: for each forwarded connection the client opens an error stream
// and a data stream with the same requestID header and the pod's port in
// the port header; the agent connects to that port of the pod (see
// dialPod: 127.0.0.1 inside the pod's network namespace, as the kubelet
// does) and copies the data stream to and from the connection, and
// reports a failure to connect on the error stream. A WebSocket request
// carries the same SPDY session inside (see tunnelSPDY). It blocks until
// the client closes the connection.
func (a *Agent) servePortForward(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "portForward takes GET or POST", http.StatusMethodNotAllowed)
		return
	}
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	pod, code, err := a.requestedPod(ns, name)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	if !pod.Spec.HostNetwork && pod.Status.PodIP == "" {
		http.Error(w, fmt.Sprintf("pod %s/%s has no IP yet", ns, name), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	streams := make(chan httpstream.Stream)
	newStream := func(st httpstream.Stream, _ <-chan struct{}) error {
		// The SPDY connection's reader calls this: hand over without
		// blocking it.
		go func() {
			select {
			case streams <- st:
			case <-ctx.Done():
				_ = st.Reset()
			}
		}()
		return nil
	}
	var conn httpstream.Connection
	if wsstream.IsWebSocketRequest(r) {
		if conn = a.tunnelSPDY(w, r, newStream); conn == nil {
			return
		}
	} else {
		if _, err := httpstream.Handshake(r, w, []string{portforward.PortForwardV1Name}); err != nil {
			return // Handshake has answered.
		}
		if conn = spdy.NewResponseUpgrader().UpgradeResponse(w, r, newStream); conn == nil {
			return // the upgrader has answered.
		}
	}
	defer conn.Close()
	f := &portForwarder{a: a, pod: pod, name: ns + "/" + name, pairs: map[string]*streamPair{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-ctx.Done():
			return
		case st := <-streams:
			if p := f.add(ctx, st); p != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f.forward(ctx, p)
				}()
			}
		}
	}
}

// tunnelSPDY upgrades r to a WebSocket with the subprotocol
// SPDY/3.1+portforward.k8s.io (client-go's and kubectl's port forwarding
// since 1.30) and serves SPDY over its binary messages; it returns nil when
// it has answered with an error.
func (a *Agent) tunnelSPDY(w http.ResponseWriter, r *http.Request, newStream httpstream.NewStreamHandler) httpstream.Connection {
	const protocol = portforward.WebsocketsSPDYTunnelingPortForwardV1
	offered := false
	for _, p := range gwebsocket.Subprotocols(r) {
		offered = offered || p == protocol
	}
	if !offered {
		http.Error(w, "port forwarding over WebSocket needs the subprotocol "+protocol, http.StatusBadRequest)
		return nil
	}
	up := gwebsocket.Upgrader{
		Subprotocols: []string{protocol},
		// The API server or an authenticated client connects: the origin
		// of a browser page is no concern here.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has answered.
	}
	conn, err := spdy.NewServerConnection(clientportforward.NewTunnelingConnection("nodeagent", ws), newStream)
	if err != nil {
		a.log.WarnContext(r.Context(), "port forward: SPDY over WebSocket", "err", err)
		_ = ws.Close()
		return nil
	}
	return conn
}

// portForwarder pairs one session's streams and forwards them.
type portForwarder struct {
	a     *Agent
	pod   *corev1.Pod            // from the cache: read only
	name  string                 // namespace/name
	pairs map[string]*streamPair // by requestID; only the session's loop uses it
}

// streamPair are the two streams of one forwarded connection.
type streamPair struct {
	requestID   string
	port        uint16
	data, error httpstream.Stream
}

// add files a new stream under its requestID and returns the pair once
// both of its streams are there. A stream with bad headers is reset.
func (f *portForwarder) add(ctx context.Context, st httpstream.Stream) *streamPair {
	h := st.Headers()
	id := h.Get(corev1.PortForwardRequestIDHeader)
	port, err := strconv.ParseUint(h.Get(corev1.PortHeader), 10, 16)
	if id == "" || err != nil || port == 0 {
		f.a.log.InfoContext(ctx, "port forward: a stream without a valid requestID or port", "pod", f.name, "requestID", id, "port", h.Get(corev1.PortHeader))
		_ = st.Reset()
		return nil
	}
	p := f.pairs[id]
	if p == nil {
		p = &streamPair{requestID: id, port: uint16(port)}
		f.pairs[id] = p
	}
	switch h.Get(corev1.StreamType) {
	case corev1.StreamTypeData:
		if p.data != nil {
			_ = st.Reset()
			return nil
		}
		p.data = st
	case corev1.StreamTypeError:
		if p.error != nil {
			_ = st.Reset()
			return nil
		}
		p.error = st
	default:
		_ = st.Reset()
		return nil
	}
	if p.data == nil || p.error == nil {
		return nil
	}
	delete(f.pairs, id)
	return p
}

// forward connects to the pod's port and copies the data stream both ways
// until either side ends; a failure to connect goes to the error stream.
func (f *portForwarder) forward(ctx context.Context, p *streamPair) {
	defer p.error.Close()
	defer p.data.Close()
	conn, err := f.a.dialPod(ctx, f.pod, p.port)
	if err != nil {
		msg := fmt.Sprintf("pod %s: forwarding port %d: %v", f.name, p.port, err)
		f.a.log.InfoContext(ctx, "port forward: connecting to the pod", "pod", f.name, "port", p.port, "err", err)
		_, _ = p.error.Write([]byte(msg))
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	toPod := make(chan struct{})
	go func() {
		defer close(toPod)
		_, _ = io.Copy(conn, p.data)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	if _, err := io.Copy(p.data, conn); err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
		f.a.log.DebugContext(ctx, "port forward: copying from the pod", "pod", f.name, "port", p.port, "err", err)
	}
	// The pod closed its side: closing the data stream (deferred) tells
	// the client; the copy to the pod ends with the stream.
	_ = p.data.Close()
	select {
	case <-toPod:
	case <-ctx.Done():
	}
}

// dialPod connects to port of pod as the kubelet's runtime does for port
// forwarding: to 127.0.0.1:port inside the network namespace of the pod's
// newest ready sandbox, so that a server listening on the pod's loopback
// only is reached and sees the connection come from 127.0.0.1. A pod with
// host networking is dialed at 127.0.0.1:port on the node. With a runtime
// that names no namespace (runtime.SandboxStatus.NetNS empty, as the fake
// runtime), it falls back to the pod's IP from the node. Every attempt is
// bounded by portForwardDialTimeout.
//
// The sandbox is looked up on every call, so that a connection never goes
// to a namespace (a /proc/<pid> path) that has gone since the session
// began.
func (a *Agent) dialPod(ctx context.Context, pod *corev1.Pod, port uint16) (net.Conn, error) {
	d := net.Dialer{Timeout: portForwardDialTimeout}
	loopback := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	if pod.Spec.HostNetwork {
		return d.DialContext(ctx, "tcp4", loopback)
	}
	sb, err := a.readySandbox(ctx, pod.UID)
	if err != nil {
		return nil, fmt.Errorf("finding the pod's sandbox: %w", err)
	}
	if sb == nil {
		return nil, errors.New("the pod has no running sandbox")
	}
	if sb.NetNS != "" {
		var conn net.Conn
		// The socket belongs to the namespace it is created in: the
		// connection keeps working after Do has returned.
		err := netnsutil.Do(sb.NetNS, func() error {
			var err error
			conn, err = d.DialContext(ctx, "tcp4", loopback)
			return err
		})
		if err != nil {
			if conn != nil {
				_ = conn.Close()
			}
			return nil, fmt.Errorf("in the network namespace of sandbox %s: %w", sb.ID, err)
		}
		return conn, nil
	}
	ip := pod.Status.PodIP
	if sb.IP.IsValid() {
		ip = sb.IP.String()
	}
	if ip == "" {
		return nil, fmt.Errorf("sandbox %s has no IP", sb.ID)
	}
	return d.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
}
