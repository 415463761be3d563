package cluster

import (
	"context"
	"crypto"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/defaulttolerationseconds"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/apiserver/serviceaccount"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

// TestMaster is an API server started inside a test by StartTestMaster.
// Its fields must not be changed; it is safe for concurrent use.
type TestMaster struct {
	// URL is the server's address, https://127.0.0.1:<port>.
	URL string
	// Config is the administrator's client configuration: client
	// certificate admin in system:masters, trusting the test CA. Copy it
	// (rest.CopyConfig) before changing it.
	Config *rest.Config
	// Client is a clientset for Config.
	Client kubernetes.Interface
	// Server is the API server, Store its in-memory store.
	Server *apiserver.Server
	Store  store.Store
	// CA signed the serving and client certificates.
	CA *pki.CA
	// ServiceAccountKey signs service account tokens; nil without
	// TestMasterOptions.ServiceAccounts.
	ServiceAccountKey crypto.Signer
}

// StartTestMaster starts an API server for the test tb: the in-memory
// store, a CA of its own, HTTPS on a free 127.0.0.1 port and the same
// authentication as a Master (client certificates; requests without one get
// 401). The system namespaces exist when it returns. Everything stops when
// the test ends (open watches are cut). It takes a few milliseconds (see
// BenchmarkStartTestMaster); tests may call it in parallel. The server logs
// to tb.Log.
func StartTestMaster(tb testing.TB) *TestMaster {
	tb.Helper()
	return StartTestMasterWithOptions(tb, TestMasterOptions{})
}

// TestMasterOptions configure StartTestMasterWithOptions. The zero value
// is StartTestMaster's.
type TestMasterOptions struct {
	// RBAC turns authorization on as in a Master: system:masters may do
	// anything, node agents are restricted to their node (node authorizer
	// and NodeRestriction admission), everybody else gets what RBAC roles
	// grant, starting from the bootstrap policy, applied before
	// StartTestMasterWithOptions returns. Without it every authenticated
	// user may do anything.
	RBAC bool
	// ServiceAccounts turns service account tokens on, as in a Master:
	// the TokenRequest API, bearer tokens of service accounts, and the
	// ServiceAccount admission plugin, under which a pod needs its
	// namespace's default account (made by the service account controller,
	// which StartTestCluster runs).
	ServiceAccounts bool
}

// StartTestMasterWithOptions is StartTestMaster with options.
func StartTestMasterWithOptions(tb testing.TB, opts TestMasterOptions) *TestMaster {
	tb.Helper()
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.close) // registered first: runs last, after the server stopped
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ca, err := pki.NewCA(pki.CAOptions{})
	if err != nil {
		tb.Fatalf("cluster: test master: %v", err)
	}
	serving, err := ca.Issue(pki.CertRequest{
		CommonName:  "kube-apiserver",
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		Usage:       pki.ServerAuth,
	})
	if err != nil {
		tb.Fatalf("cluster: test master: %v", err)
	}
	tlsConfig, err := pki.ServerTLSConfig(serving, ca.Pool())
	if err != nil {
		tb.Fatalf("cluster: test master: %v", err)
	}

	// The server reaches node agents as a Master's does: its own client
	// certificate, their serving certificates checked against the CA
	// (StartTestCluster issues them).
	kubeletClient, err := ca.Issue(pki.CertRequest{CommonName: pki.APIServerKubeletClientUser, Usage: pki.ClientAuth})
	if err != nil {
		tb.Fatalf("cluster: test master: %v", err)
	}
	kubeletClientTLS, err := kubeletClient.TLSCertificate()
	if err != nil {
		tb.Fatalf("cluster: test master: %v", err)
	}

	st := memory.New(memory.Options{})
	apiOpts := apiserver.Options{
		Store:         st,
		Logger:        log,
		Authenticator: requireCredentials{pki.NewCertAuthenticator(ca.Pool())},
		NodeConnection: apiserver.TLSNodeConnection(&tls.Config{
			MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{kubeletClientTLS}, RootCAs: ca.Pool(),
		}),
	}
	var saKey crypto.Signer
	if opts.ServiceAccounts {
		if saKey, err = pki.NewKey(pki.ECDSAP256); err != nil {
			st.Close()
			tb.Fatalf("cluster: test master: %v", err)
		}
		issuer, tokens, err := serviceAccountTokens(st, saKey, "", nil)
		if err != nil {
			st.Close()
			tb.Fatalf("cluster: test master: %v", err)
		}
		apiOpts.TokenIssuer = issuer
		apiOpts.Authenticator = requireCredentials{authn.Union(pki.NewCertAuthenticator(ca.Pool()), tokens)}
		if !opts.RBAC {
			apiOpts.Admission = []any{serviceaccount.NewAdmission(serviceaccount.StoreLookup(st))}
		}
	}
	var authz *authorization
	if opts.RBAC {
		if authz, err = newAuthorization(st, log, opts.ServiceAccounts, defaulttolerationseconds.Options{}); err != nil {
			st.Close()
			tb.Fatalf("cluster: test master: %v", err)
		}
		apiOpts.Authorizer, apiOpts.Admission = authz.authorizer, authz.admission
	}
	srv, err := apiserver.New(apiOpts)
	if err != nil {
		st.Close()
		tb.Fatalf("cluster: test master: %v", err)
	}
	if err := srv.EnsureSystemObjects(context.Background()); err != nil {
		st.Close()
		tb.Fatalf("cluster: test master: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	hs.TLS = tlsConfig
	hs.StartTLS()
	m := &TestMaster{URL: hs.URL, Server: srv, Store: st, CA: ca, ServiceAccountKey: saKey}
	tb.Cleanup(func() {
		cancel()
		hs.CloseClientConnections()
		hs.Close()
		st.Close()
	})

	m.Config = m.ConfigFor(pki.AdminUser, pki.MastersGroup)
	if m.Client, err = kubernetes.NewForConfig(m.Config); err != nil {
		tb.Fatalf("cluster: test master: %v", err)
	}
	if authz != nil {
		wait, err := authz.start(ctx, time.Minute)
		tb.Cleanup(func() { cancel(); wait() })
		if err != nil {
			tb.Fatalf("cluster: test master: %v", err)
		}
		if err := authz.bootstrap(ctx, m.Client); err != nil {
			tb.Fatalf("cluster: test master: %v", err)
		}
	}
	return m
}

// ConfigFor returns a client configuration authenticating as user in
// groups, with a new client certificate from the test CA. It panics if the
// certificate cannot be made.
func (m *TestMaster) ConfigFor(user string, groups ...string) *rest.Config {
	c, err := m.CA.Issue(pki.CertRequest{CommonName: user, Organization: groups, Usage: pki.ClientAuth})
	if err != nil {
		panic(err)
	}
	cfg, err := pki.Kubeconfig{Server: m.URL, CA: m.CA.CertPEM(), ClientCert: c.CertPEM, ClientKey: c.KeyPEM, User: user}.RESTConfig()
	if err != nil {
		panic(err)
	}
	return cfg
}

// tbWriter writes log lines to tb.Log until the test's cleanups have
// run; later lines (from goroutines still ending) are dropped, since
// testing panics on a Log after the test.
type tbWriter struct {
	tb   testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tbWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}
