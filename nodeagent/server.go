package nodeagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/gantryhq/gantry/runtime"
)

// DefaultPort is the node agent's API port (the kubelet's 10250).
const DefaultPort = 10250

// Handler is the node agent's HTTP API, which the API server proxies
// pods/log, pods/exec, pods/attach, pods/portforward and nodes/proxy to:
//
//	GET /healthz                                  ok when the runtime answers
//	GET /pods                                     the pods bound to this node
//	GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&timestamps=&sinceSeconds=&previous=
//	GET|POST /exec/{namespace}/{pod}/{container}?command=&stdin=&stdout=&stderr=&tty=   (WebSocket or SPDY upgrade)
//	GET|POST /attach/{namespace}/{pod}/{container}?stdin=&stdout=&stderr=&tty=          (the same, to the main process)
//	GET|POST /portForward/{namespace}/{pod}       portforward.k8s.io over SPDY to the pod's ports (its 127.0.0.1)
//	GET /metrics                                  Prometheus metrics (see Agent.Metrics)
//
// With Options.Authenticator and Authorizer, every path but /healthz is
// guarded like the kubelet's port 10250 with --anonymous-auth=false and
// --authorization-mode=Webhook: a request without credentials, or with a
// client certificate or bearer token that does not verify, gets 401; an
// authenticated user gets 403 (with the authorizer's reason) unless
// allowed the verb on nodes/<subresource> of this node (see
// RequestAttributes; /metrics is nodes/metrics, the other paths
// nodes/proxy). /healthz stays open, for probes and load balancers, and
// says no more than whether the runtime answers (the kubelet serves its
// health on a separate local port instead). Errors are Kubernetes Status
// objects.
//
// It is only useful while Run runs (it reads the agent's pod cache).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := a.rt.Health(r.Context()); err != nil {
			a.log.WarnContext(r.Context(), "health check: the runtime does not answer", "err", err)
			http.Error(w, "the container runtime does not answer", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /pods", a.servePods)
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.serveLogs)
	mux.HandleFunc("/exec/{namespace}/{pod}/{container}", a.serveExec)
	mux.HandleFunc("/attach/{namespace}/{pod}/{container}", a.serveAttach)
	mux.HandleFunc("/portForward/{namespace}/{pod}", a.servePortForward)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError,
	}))
	if a.opts.Authenticator == nil {
		return mux
	}
	return a.withAuth(mux, "/healthz")
}

// serve starts serving Handler over TLS at Options.ServeAddress, until
// stop is called, and records the port for node status.
func (a *Agent) serve(ctx context.Context) (stop func(), err error) {
	tlsConfig := a.opts.TLSConfig
	if tlsConfig == nil {
		if tlsConfig, err = SelfSignedTLSConfig(a.opts.NodeName, a.opts.NodeIP, a.clock.Now()); err != nil {
			return nil, err
		}
		a.log.InfoContext(ctx, "node agent API: no serving certificate given, made a self-signed one")
	}
	tlsConfig = tlsConfig.Clone()
	if tlsConfig.MinVersion < tls.VersionTLS12 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	if a.opts.Authenticator != nil && tlsConfig.ClientAuth == tls.NoClientCert {
		// Certificates are verified by the authenticator, so that a bad
		// one gets a 401 response rather than a TLS alert.
		tlsConfig.ClientAuth = tls.RequestClientCert
	}
	// HTTP/1.1 only: exec streams are connection upgrades.
	tlsConfig.NextProtos = []string{"http/1.1"}
	if a.opts.Authenticator == nil {
		a.log.WarnContext(ctx, "node agent API: no authentication or authorization configured, anyone who reaches it may use it")
	}
	l, err := net.Listen("tcp", a.opts.ServeAddress)
	if err != nil {
		return nil, fmt.Errorf("nodeagent: serving the API: %w", err)
	}
	a.port = int32(l.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{
		Handler: a.Handler(), ReadHeaderTimeout: 30 * time.Second, TLSConfig: tlsConfig,
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(tls.NewListener(l, tlsConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.ErrorContext(ctx, "serving the node agent API", "err", err)
		}
	}()
	return func() { srv.Close() }, nil
}

func (a *Agent) servePods(w http.ResponseWriter, r *http.Request) {
	if a.pods == nil {
		http.Error(w, "the node agent is not running", http.StatusServiceUnavailable)
		return
	}
	pods, err := a.pods.List(everything)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	list := &corev1.PodList{}
	for _, p := range pods {
		list.Items = append(list.Items, *p)
	}
	list.APIVersion, list.Kind = "v1", "PodList"
	enc := serializer.NewCodecFactory(scheme.Scheme).LegacyCodec(corev1.SchemeGroupVersion)
	w.Header().Set("Content-Type", "application/json")
	if err := enc.Encode(list, w); err != nil {
		a.log.WarnContext(r.Context(), "writing /pods", "err", err)
	}
}

// requestedPod is the pod a request of the agent's API names, or an error
// with its HTTP status code: 503 before the agent runs, 404 for a pod not
// on this node.
func (a *Agent) requestedPod(ns, name string) (*corev1.Pod, int, error) {
	if a.pods == nil {
		return nil, http.StatusServiceUnavailable, errors.New("the node agent is not running")
	}
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, http.StatusNotFound, fmt.Errorf("pod %s/%s is not on this node", ns, name)
	}
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	return pod, 0, nil
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	pod, code, err := a.requestedPod(ns, name)
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	q := r.URL.Query()
	opts := runtime.LogOptions{Follow: isTrue(q.Get("follow")), Timestamps: isTrue(q.Get("timestamps"))}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "tailLines must be a non-negative integer", http.StatusBadRequest)
			return
		}
		opts.TailLines = &n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			http.Error(w, "sinceSeconds must be a positive integer", http.StatusBadRequest)
			return
		}
		opts.Since = a.clock.Now().Add(-time.Duration(n) * time.Second)
	}
	previous := isTrue(q.Get("previous"))

	cs, err := a.rt.ListContainers(r.Context(), runtime.ContainerFilter{Labels: map[string]string{
		runtime.LabelPodUID: string(pod.UID), runtime.LabelContainerName: container,
	}})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var latest, prev *runtime.Container
	for i := range cs {
		c := &cs[i]
		switch {
		case latest == nil || c.Attempt > latest.Attempt:
			prev, latest = latest, c
		case prev == nil || c.Attempt > prev.Attempt:
			prev = c
		}
	}
	target := latest
	if previous {
		target = prev
	}
	if target == nil {
		what := "container"
		if previous {
			what = "previous terminated container"
		}
		http.Error(w, fmt.Sprintf("%s %q in pod %q not found", what, container, name), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := a.rt.ContainerLogs(r.Context(), target.ID, opts, fw, fw); err != nil && r.Context().Err() == nil && !errors.Is(err, runtime.ErrNotFound) {
		a.log.WarnContext(r.Context(), "streaming logs", "pod", ns+"/"+name, "container", container, "err", err)
	}
}

// flushWriter flushes after every write, so that followed logs arrive as
// they are written. It is safe for the runtime's two streams at once.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	mu sync.Mutex
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	n, err := fw.w.Write(p)
	if err == nil {
		_ = fw.rc.Flush()
	}
	return n, err
}

func isTrue(s string) bool { return s == "1" || strings.EqualFold(s, "true") }
