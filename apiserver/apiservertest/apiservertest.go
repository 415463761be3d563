// Package apiservertest starts an API server inside a test: over the
// in-memory store (or a given one), on a plain-HTTP httptest server, with
// the system namespaces created, and closed when the test ends. Tests of
// components that talk to the API server (scheduler, controllers, node
// agent) use it; cluster.StartTestMaster is the same with TLS and
// authentication.
package apiservertest

import (
	"context"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

// Server is a running test API server.
type Server struct {
	// API is the server; URL is where it listens.
	API *apiserver.Server
	URL string
	// Store holds its objects.
	Store store.Store
	// Config reaches it (no rate limit) and Client is a clientset on Config.
	Config *rest.Config
	Client kubernetes.Interface
}

// Start starts an API server for the test. opts.Store nil means a new
// memory store (closed with the test); other options are as for
// apiserver.New. Failures fail the test.
func Start(tb testing.TB, opts apiserver.Options) *Server {
	tb.Helper()
	if opts.Store == nil {
		st := memory.New(memory.Options{})
		tb.Cleanup(func() { st.Close() })
		opts.Store = st
	}
	srv, err := apiserver.New(opts)
	if err != nil {
		tb.Fatalf("apiservertest: %v", err)
	}
	if err := srv.EnsureSystemObjects(context.Background()); err != nil {
		tb.Fatalf("apiservertest: %v", err)
	}
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	cfg := &rest.Config{Host: hs.URL, QPS: -1}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatalf("apiservertest: %v", err)
	}
	return &Server{API: srv, URL: hs.URL, Store: opts.Store, Config: cfg, Client: cs}
}
