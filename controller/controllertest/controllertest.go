package controllertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store/memory"
)

// Server is a running in-process API server.
type Server struct {
	// Client talks to the server through a counting transport.
	Client *kubernetes.Clientset
	// Config is the rest.Config of Client (QPS -1: no client-side limit).
	Config *rest.Config
	// Store is the server's memory store.
	Store *memory.Store
	// URL is the server's base URL.
	URL string
	// Requests counts every HTTP request made through Config.
	Requests *Counter
	close    func()
}

// Counter counts requests by verb; safe for concurrent use.
type Counter struct {
	total, mutating, watches atomic.Int64
}

// Total is the number of requests so far; Mutating those that were not
// GET (create, update, patch, delete); Watches the watch requests.
func (c *Counter) Total() int64    { return c.total.Load() }
func (c *Counter) Mutating() int64 { return c.mutating.Load() }
func (c *Counter) Watches() int64  { return c.watches.Load() }

// RoundTripper wraps next and counts every request in c.
func (c *Counter) RoundTripper(next http.RoundTripper) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		c.total.Add(1)
		if r.Method != http.MethodGet {
			c.mutating.Add(1)
		} else if r.URL.Query().Get("watch") == "true" {
			c.watches.Add(1)
		}
		return next.RoundTrip(r)
	})
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Start starts an API server for tb and stops it at cleanup. opts may be
// the zero value; its Store is always replaced by a fresh memory store.
func Start(tb testing.TB, opts apiserver.Options) *Server {
	tb.Helper()
	s, err := New(context.Background(), opts)
	if err != nil {
		tb.Fatalf("controllertest: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// New starts a server outside of a test (examples, benchmarks' setup).
// Close stops it.
func New(ctx context.Context, opts apiserver.Options) (*Server, error) {
	st := memory.New(memory.Options{})
	opts.Store = st
	srv, err := apiserver.New(opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := srv.EnsureSystemObjects(ctx); err != nil {
		st.Close()
		return nil, err
	}
	hs := httptest.NewServer(srv)
	cnt := &Counter{}
	cfg := &rest.Config{Host: hs.URL, QPS: -1, WrapTransport: cnt.RoundTripper}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		hs.Close()
		st.Close()
		return nil, err
	}
	return &Server{Client: cs, Config: cfg, Store: st, URL: hs.URL, Requests: cnt, close: func() {
		hs.CloseClientConnections()
		hs.Close()
		st.Close()
	}}, nil
}

// Close stops the server and its store.
func (s *Server) Close() { s.close() }

// Eventually polls cond every 10ms until it returns true or timeout passes,
// then fails tb with msg. cond's error fails tb at once.
func Eventually(tb testing.TB, timeout time.Duration, msg string, cond func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			tb.Fatalf("%s: %v", msg, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v: %s", timeout, msg)
		}
		//nolint:forbidigo // polling interval of a condition with a deadline
		<-time.After(10 * time.Millisecond)
	}
}
