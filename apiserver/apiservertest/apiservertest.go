// Package apiservertest starts an API server inside a test: over the
// in-memory store (or a given one), on a plain-HTTP httptest server, with
// the system namespaces created, and closed when the test ends. Tests of
// components that talk to the API server (scheduler, controllers, node
// agent) use it; cluster.StartTestMaster is the same with TLS and
// authentication.
package apiservertest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/apiserver/noderestriction"
	"github.com/gantryhq/gantry/apiserver/rbac"
	"github.com/gantryhq/gantry/apiserver/serviceaccount"
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

	tokens *tokenAuthenticator // WithRBAC
}

// Option changes how Start starts a server.
type Option func(*settings)

type settings struct{ rbac, serviceAccounts bool }

// WithRBAC turns authentication and authorization on: requests carry a
// bearer token made by Server.ConfigFor (requests without one are
// anonymous); system:masters may do anything, node agents are limited to
// their node (node authorizer and NodeRestriction admission), everybody
// else gets what RBAC grants (and may not grant more than it has: RBAC's
// escalation check), starting from the bootstrap policy, which is in place
// when Start returns. Server.Config is then an administrator in
// system:masters. opts.Authenticator, Authorizer and Admission must be nil.
func WithRBAC() Option { return func(s *settings) { s.rbac = true } }

// WithServiceAccounts turns service account tokens on: the TokenRequest
// API (serviceaccounts/<name>/token) signs tokens with a key made for the
// test, bearer tokens it signed authenticate as their service account
// (before the tokens of ConfigFor, with WithRBAC), TokenReview answers for
// them, and the ServiceAccount admission plugin gives pods their account
// and token volume: pods need their account (usually "default") to
// exist, which no controller makes here. opts.TokenIssuer must be nil.
func WithServiceAccounts() Option { return func(s *settings) { s.serviceAccounts = true } }

// Start starts an API server for the test. opts.Store nil means a new
// memory store (closed with the test); other options are as for
// apiserver.New. Without options there is no authentication or
// authorization (everyone may do anything); see WithRBAC. Failures fail
// the test.
func Start(tb testing.TB, opts apiserver.Options, options ...Option) *Server {
	tb.Helper()
	var set settings
	for _, o := range options {
		o(&set)
	}
	if opts.Store == nil {
		st := memory.New(memory.Options{})
		tb.Cleanup(func() { st.Close() })
		opts.Store = st
	}
	var tokens *tokenAuthenticator
	var cache *rbac.StoreCache
	var pods *noderestriction.PodIndex
	if set.rbac {
		if opts.Authenticator != nil || opts.Authorizer != nil || opts.Admission != nil {
			tb.Fatalf("apiservertest: WithRBAC sets Authenticator, Authorizer and Admission")
		}
		var err error
		if cache, err = rbac.NewStoreCache(rbac.StoreCacheOptions{Store: opts.Store, Logger: opts.Logger}); err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		z, err := rbac.New(rbac.Options{Policy: cache})
		if err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		tokens = &tokenAuthenticator{users: map[string]*apiserver.UserInfo{}}
		opts.Authenticator = tokens
		if pods, err = noderestriction.NewPodIndex(noderestriction.PodIndexOptions{Store: opts.Store, Logger: opts.Logger}); err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		authorizer := apiserver.Union{
			apiserver.PrivilegedGroups(apiserver.MastersGroup),
			noderestriction.NewAuthorizer(noderestriction.AuthorizerOptions{Pods: pods}),
			z,
		}
		escalation, err := rbac.NewEscalationCheck(rbac.EscalationOptions{Authorizer: authorizer, Policy: cache})
		if err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		opts.Authorizer = authorizer
		opts.Admission = []any{noderestriction.NewAdmission(noderestriction.AdmissionOptions{Store: opts.Store}), escalation}
	}
	if set.serviceAccounts {
		if opts.TokenIssuer != nil {
			tb.Fatalf("apiservertest: WithServiceAccounts sets TokenIssuer")
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		issuer, err := serviceaccount.NewIssuer(serviceaccount.IssuerOptions{Key: key, Now: opts.Now})
		if err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		lookup := serviceaccount.StoreLookup(opts.Store)
		sa, err := serviceaccount.NewAuthenticator(serviceaccount.AuthenticatorOptions{
			Keys: []crypto.PublicKey{key.Public()}, Legacy: true, Lookup: lookup, Now: opts.Now,
		})
		if err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		opts.TokenIssuer = issuer
		if opts.Authenticator == nil {
			opts.Authenticator = sa
		} else {
			opts.Authenticator = authn.Union(sa, opts.Authenticator)
		}
		opts.Admission = append(opts.Admission, serviceaccount.NewAdmission(lookup))
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
	s := &Server{API: srv, URL: hs.URL, Store: opts.Store, tokens: tokens}
	s.Config = &rest.Config{Host: hs.URL, QPS: -1}
	if set.rbac {
		s.Config = s.ConfigFor("admin", apiserver.MastersGroup)
	}
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		tb.Fatalf("apiservertest: %v", err)
	}
	s.Client = cs
	if cache != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); cache.Run(ctx) }()
		podsDone := make(chan struct{})
		go func() { defer close(podsDone); pods.Run(ctx) }()
		tb.Cleanup(func() { cancel(); <-done; <-podsDone })
		if err := cache.WaitForSync(ctx); err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		if err := pods.WaitForSync(ctx); err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		b := rbac.BootstrapPolicy()
		if err := rbac.EnsureBootstrapPolicy(ctx, cs, b); err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
		waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
		defer cancelWait()
		if err := rbac.WaitForPolicy(waitCtx, cache, b); err != nil {
			tb.Fatalf("apiservertest: %v", err)
		}
	}
	return s
}

// ConfigFor returns a client configuration (no rate limit) authenticating
// as user in groups (and system:authenticated) with a new bearer token. It
// is for servers started WithRBAC; without it the token is ignored and the
// client is anonymous like every other.
func (s *Server) ConfigFor(user string, groups ...string) *rest.Config {
	token := rand.Text()
	if s.tokens != nil {
		u := &apiserver.UserInfo{Name: user, Groups: append(slices.Clone(groups), "system:authenticated")}
		s.tokens.mu.Lock()
		s.tokens.users[token] = u
		s.tokens.mu.Unlock()
	}
	return &rest.Config{Host: s.URL, QPS: -1, BearerToken: token}
}

// tokenAuthenticator knows the tokens ConfigFor made.
type tokenAuthenticator struct {
	mu    sync.Mutex
	users map[string]*apiserver.UserInfo
}

func (a *tokenAuthenticator) AuthenticateRequest(r *http.Request) (*apiserver.UserInfo, bool, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, false, nil
	}
	a.mu.Lock()
	u, known := a.users[token]
	a.mu.Unlock()
	if !known {
		return nil, false, errors.New("unknown bearer token")
	}
	return u, true, nil
}
