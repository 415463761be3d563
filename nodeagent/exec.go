package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/remotecommand"

	"github.com/gantryhq/gantry/runtime"
)

// The remote command stream protocols the exec endpoint speaks.
//
// Over WebSocket (the protocol is the Sec-WebSocket-Protocol), every message
// starts with one channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (the
// exit status), 4 resize; v5 adds the close signal 255 <channel>, which the
// client sends when its stdin ends. The base64 variants carry the channel as
// an ASCII digit followed by base64 data.
//
// Over SPDY/3.1 (the protocol is negotiated in X-Stream-Protocol-Version),
// the client opens one stream per channel and names it in the "streamType"
// header (stdin, stdout, stderr, error, resize). v2 reports errors as plain
// text, v3 adds resize, v4 reports the exit status as a metav1.Status.
var (
	spdyExecProtocols = []string{
		remotecommand.StreamProtocolV4Name,
		remotecommand.StreamProtocolV3Name,
		remotecommand.StreamProtocolV2Name,
	}
	wsExecProtocols = []struct {
		name   string
		binary bool
	}{
		{remotecommand.StreamProtocolV5Name, true},
		{remotecommand.StreamProtocolV4Name, true},
		{"v4.base64.channel.k8s.io", false},
		{wsstream.ChannelWebSocketProtocol, true},
		{wsstream.Base64ChannelWebSocketProtocol, false},
	}
)

// execRequest is what a client asks of /exec or /attach.
type execRequest struct {
	namespace, pod, container string
	// attach: the session attaches to the container's main process
	// (/attach); else it runs cmd (/exec).
	attach                bool
	cmd                   []string
	stdin, stdout, stderr bool
	tty                   bool
}

// parseExecRequest reads the path values and the query (command repeated,
// stdin, stdout, stderr, tty) of an exec request, or of an attach request
// (which has no command) when attach is set.
func parseExecRequest(r *http.Request, attach bool) (execRequest, error) {
	q := r.URL.Query()
	req := execRequest{
		namespace: r.PathValue("namespace"), pod: r.PathValue("pod"), container: r.PathValue("container"),
		attach: attach, cmd: q["command"],
		stdin: isTrue(q.Get("stdin")), stdout: isTrue(q.Get("stdout")), stderr: isTrue(q.Get("stderr")),
		tty: isTrue(q.Get("tty")),
	}
	if attach {
		req.cmd = nil
	} else if len(req.cmd) == 0 {
		return req, errors.New("you must specify at least one command for the container")
	}
	if !req.stdin && !req.stdout && !req.stderr {
		return req, errors.New("you must specify at least one of stdin, stdout, stderr")
	}
	if req.tty && req.stderr {
		// A terminal merges stderr into stdout; clients do not open stderr.
		req.stderr = false
	}
	return req, nil
}

// execStreams are the streams of one exec session, whatever the transport.
// Unrequested streams are nil.
type execStreams struct {
	protocol       string
	stdin          io.Reader
	stdout, stderr io.Writer
	errorStream    io.Writer
	resize         io.Reader
	// gone, when set, is closed once the client has gone.
	gone <-chan struct{}
}

// serveExec serves GET and POST
// /exec/{namespace}/{pod}/{container}?command=...&stdin=&stdout=&stderr=&tty=
// (the route Handler registers): it
// upgrades the connection to a remote command stream protocol (WebSocket or
// SPDY), runs the command in the latest attempt of the container, and
// writes the exit status on the error stream. It blocks until the command
// has exited or the client has gone.
func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	a.serveStreams(w, r, false)
}

// serveStreams serves an exec session, or an attach session when attach
// is set.
func (a *Agent) serveStreams(w http.ResponseWriter, r *http.Request, attach bool) {
	what := "exec"
	if attach {
		what = "attach"
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, what+" takes GET or POST", http.StatusMethodNotAllowed)
		return
	}
	req, err := parseExecRequest(r, attach)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, code, err := a.execTarget(r.Context(), req)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	if wsstream.IsWebSocketRequest(r) {
		a.execWebSocket(w, r, req, id)
		return
	}
	a.execSPDY(w, r, req, id)
}

// execTarget finds the ID of the latest attempt of the requested container,
// or an error with its HTTP status code.
func (a *Agent) execTarget(ctx context.Context, req execRequest) (string, int, error) {
	pod, code, err := a.requestedPod(req.namespace, req.pod)
	if err != nil {
		return "", code, err
	}
	cs, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{Labels: map[string]string{
		runtime.LabelPodUID: string(pod.UID), runtime.LabelContainerName: req.container,
	}})
	if err != nil {
		return "", http.StatusInternalServerError, fmt.Errorf("pod %s/%s: listing containers: %w", req.namespace, req.pod, err)
	}
	var latest *runtime.Container
	for i := range cs {
		if latest == nil || cs[i].Attempt > latest.Attempt {
			latest = &cs[i]
		}
	}
	if latest == nil {
		return "", http.StatusBadRequest, fmt.Errorf("container %q in pod %s/%s not found", req.container, req.namespace, req.pod)
	}
	return latest.ID, 0, nil
}

// execWebSocket runs an exec session over a channel WebSocket.
func (a *Agent) execWebSocket(w http.ResponseWriter, r *http.Request, req execRequest, id string) {
	channels := []wsstream.ChannelType{
		remotecommand.StreamStdIn:  wsstream.IgnoreChannel,
		remotecommand.StreamStdOut: wsstream.WriteChannel,
		remotecommand.StreamStdErr: wsstream.WriteChannel,
		remotecommand.StreamErr:    wsstream.WriteChannel,
		// Always readable: it ends when the connection does, which tells
		// that the client has gone.
		remotecommand.StreamResize: wsstream.ReadChannel,
	}
	if req.stdin {
		channels[remotecommand.StreamStdIn] = wsstream.ReadChannel
	}
	protocols := make(map[string]wsstream.ChannelProtocolConfig, len(wsExecProtocols))
	for _, p := range wsExecProtocols {
		protocols[p.name] = wsstream.ChannelProtocolConfig{Binary: p.binary, Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	protocol, rwc, err := conn.Open(w, r)
	if err != nil {
		// The WebSocket server has answered the handshake already.
		a.log.WarnContext(r.Context(), "exec: opening the WebSocket", "pod", req.namespace+"/"+req.pod, "err", err)
		return
	}
	defer conn.Close()
	s := execStreams{protocol: protocol, errorStream: rwc[remotecommand.StreamErr]}
	if req.stdin {
		s.stdin = rwc[remotecommand.StreamStdIn]
	}
	if req.stdout {
		s.stdout = rwc[remotecommand.StreamStdOut]
	}
	if req.stderr {
		s.stderr = rwc[remotecommand.StreamStdErr]
	}
	// The resize channel's reader ends when the connection does. Without
	// a terminal clients send nothing on it; with one, resizes are passed
	// on through a pipe.
	gone := make(chan struct{})
	s.gone = gone
	var sizes *io.PipeWriter
	if req.tty {
		var pr *io.PipeReader
		pr, sizes = io.Pipe()
		s.resize = pr
		defer pr.Close() // unblocks the copy below once the session is over
	}
	go func() {
		defer close(gone)
		if sizes == nil {
			_, _ = io.Copy(io.Discard, rwc[remotecommand.StreamResize])
			return
		}
		_, err := io.Copy(sizes, rwc[remotecommand.StreamResize])
		_ = sizes.CloseWithError(err)
	}()
	a.runExec(r.Context(), req, id, s)
}

// spdyStream is a stream the client opened, with the signal that the
// agent's reply to its creation has been sent.
type spdyStream struct {
	stream    httpstream.Stream
	replySent <-chan struct{}
}

// execSPDY runs an exec session over SPDY/3.1 streams.
func (a *Agent) execSPDY(w http.ResponseWriter, r *http.Request, req execRequest, id string) {
	protocol, err := httpstream.Handshake(r, w, spdyExecProtocols)
	if err != nil {
		return // Handshake has answered.
	}
	if protocol == "" {
		http.Error(w, "the unversioned channel.k8s.io protocol is not supported; send "+httpstream.HeaderProtocolVersion, http.StatusBadRequest)
		return
	}
	streamCh := make(chan spdyStream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case streamCh <- spdyStream{st, replySent}:
			return nil
		default:
			return errors.New("too many streams")
		}
	})
	if conn == nil {
		return // the upgrader has answered.
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-conn.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	}()

	want := map[string]bool{corev1.StreamTypeError: true}
	if req.stdin {
		want[corev1.StreamTypeStdin] = true
	}
	if req.stdout {
		want[corev1.StreamTypeStdout] = true
	}
	if req.stderr {
		want[corev1.StreamTypeStderr] = true
	}
	if req.tty && protocol != remotecommand.StreamProtocolV2Name {
		want[corev1.StreamTypeResize] = true
	}
	got := map[string]httpstream.Stream{}
	var replies []<-chan struct{}
	timeout := time.NewTimer(remotecommand.DefaultStreamCreationTimeout)
	defer timeout.Stop()
	for len(got) < len(want) {
		select {
		case st := <-streamCh:
			typ := st.stream.Headers().Get(corev1.StreamType)
			if !want[typ] || got[typ] != nil {
				a.log.WarnContext(ctx, "exec: unexpected SPDY stream", "pod", req.namespace+"/"+req.pod, "streamType", typ)
				_ = st.stream.Reset()
				continue
			}
			got[typ] = st.stream
			replies = append(replies, st.replySent)
		case <-timeout.C:
			a.log.WarnContext(ctx, "exec: timed out waiting for the client's streams", "pod", req.namespace+"/"+req.pod, "got", len(got), "want", len(want))
			return
		case <-ctx.Done():
			return
		}
	}
	for _, replySent := range replies {
		select {
		case <-replySent:
		case <-ctx.Done():
			return
		}
	}
	s := execStreams{protocol: protocol, errorStream: got[corev1.StreamTypeError]}
	if st := got[corev1.StreamTypeStdin]; st != nil {
		s.stdin = st
	}
	if st := got[corev1.StreamTypeStdout]; st != nil {
		s.stdout = st
		defer st.Close()
	}
	if st := got[corev1.StreamTypeStderr]; st != nil {
		s.stderr = st
		defer st.Close()
	}
	if st := got[corev1.StreamTypeResize]; st != nil {
		s.resize = st
	}
	a.runExec(ctx, req, id, s)
	if errSt := got[corev1.StreamTypeError]; errSt != nil {
		_ = errSt.Close()
	}
}

// runExec runs the command (or attaches) with the session's streams, propagating
// terminal resizes, and writes the exit status on the error stream.
func (a *Agent) runExec(ctx context.Context, req execRequest, id string, s execStreams) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.gone != nil {
		go func() {
			select {
			case <-s.gone:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	opts := runtime.ExecOptions{Cmd: req.cmd, TTY: req.tty, Stdout: s.stdout, Stderr: s.stderr}
	if s.stdin != nil {
		opts.Stdin = s.stdin
	}
	if s.resize != nil {
		sizes := make(chan runtime.TerminalSize)
		opts.Resize = sizes
		go decodeResizes(ctx, s.resize, sizes)
	}
	var code int
	var err error
	if req.attach {
		err = a.rt.Attach(ctx, id, runtime.AttachOptions{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY, Resize: opts.Resize})
	} else {
		code, err = a.rt.Exec(ctx, id, opts)
	}
	if err != nil {
		a.log.InfoContext(ctx, "exec or attach failed", "pod", req.namespace+"/"+req.pod, "container", req.container, "attach", req.attach, "err", err)
		err = fmt.Errorf("pod %s/%s container %q: %w", req.namespace, req.pod, req.container, err)
	}
	if msg := encodeExecStatus(s.protocol, code, err); len(msg) > 0 {
		if _, werr := s.errorStream.Write(msg); werr != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "exec: writing the exit status", "pod", req.namespace+"/"+req.pod, "err", werr)
		}
	}
}

// decodeResizes reads JSON terminal sizes ({"Width":80,"Height":24}) from r
// and sends them on sizes until r ends or ctx is done; then it closes
// sizes.
func decodeResizes(ctx context.Context, r io.Reader, sizes chan<- runtime.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var size struct{ Width, Height uint16 }
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- runtime.TerminalSize{Width: size.Width, Height: size.Height}:
		case <-ctx.Done():
			return
		}
	}
}

// ExecStatus is the status an exec session reports on its error stream
// under the v4 and v5 protocols: Success for exit code 0 and no error;
// Failure with reason NonZeroExitCode and an ExitCode cause for another
// exit code; Failure with reason InternalError when the command could not
// be run (err).
func ExecStatus(code int, err error) *metav1.Status {
	st := &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}}
	switch {
	case err != nil:
		st.Status, st.Reason, st.Code = metav1.StatusFailure, metav1.StatusReasonInternalError, http.StatusInternalServerError
		st.Message = err.Error()
	case code == 0:
		st.Status = metav1.StatusSuccess
	default:
		st.Status, st.Reason = metav1.StatusFailure, remotecommand.NonZeroExitCodeReason
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code)
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{
			Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(code),
		}}}
	}
	return st
}

// encodeExecStatus is the error stream message for protocol: the JSON of
// ExecStatus for v4 and v5; for older protocols a plain-text error, and
// nothing on success.
func encodeExecStatus(protocol string, code int, err error) []byte {
	if strings.HasPrefix(protocol, "v4.") || strings.HasPrefix(protocol, "v5.") {
		b, merr := json.Marshal(ExecStatus(code, err))
		if merr != nil {
			return []byte(merr.Error())
		}
		return b
	}
	switch {
	case err != nil:
		return []byte(err.Error())
	case code != 0:
		return []byte(fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code))
	}
	return nil
}
