package pki_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/store/memory"
)

// tlsServer serves h over TLS with the cluster's serving certificate and
// ServerTLSConfig, as the API server does.
func tlsServer(t *testing.T, p *pki.ClusterPKI, h http.Handler) *httptest.Server {
	t.Helper()
	cfg, err := p.ServerTLSConfig()
	require.NoError(t, err)
	hs := httptest.NewUnstartedServer(h)
	hs.TLS = cfg
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return hs
}

// client returns an HTTP client trusting the cluster CA that sends cert
// whatever the server hints at, as client-go does; nil sends none.
func client(p *pki.ClusterPKI, cert *pki.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: p.CA.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc, err := cert.TLSCertificate()
		if err != nil {
			panic(err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tc, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
}

type authResult struct {
	User  *apiserver.UserInfo
	OK    bool
	Error string
}

// TestCertAuthenticator runs the authenticator on requests that arrive
// through a real TLS handshake.
func TestCertAuthenticator(t *testing.T) {
	// A PKI made two days ago with one-day certificates, renewed today: the
	// old admin certificate has expired.
	dir := t.TempDir()
	old, err := pki.EnsureClusterPKI(dir, pki.Options{Logger: quiet(), CertValidity: 24 * time.Hour,
		Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }})
	require.NoError(t, err)
	p, err := pki.EnsureClusterPKI(dir, pki.Options{NodeNames: []string{"n1"}, Logger: quiet()})
	require.NoError(t, err)
	require.Contains(t, p.Issued, "admin.crt")
	authn := p.Authenticator()
	hs := tlsServer(t, p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok, err := authn.AuthenticateRequest(r)
		res := authResult{User: u, OK: ok}
		if err != nil {
			res.Error = err.Error()
		}
		json.NewEncoder(w).Encode(res)
	}))

	other, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	tests := []struct {
		name      string
		cert      *pki.Certificate
		wantOK    bool
		wantUser  string
		wantGroup []string
		wantErr   string
	}{
		{name: "admin", cert: p.Admin, wantOK: true, wantUser: "admin", wantGroup: []string{"system:masters", "system:authenticated"}},
		{name: "node", cert: p.Nodes["n1"], wantOK: true, wantUser: "system:node:n1", wantGroup: []string{"system:nodes", "system:authenticated"}},
		{name: "scheduler", cert: p.Scheduler, wantOK: true, wantUser: "system:kube-scheduler", wantGroup: []string{"system:authenticated"}},
		{name: "no certificate", cert: nil, wantOK: false},
		{name: "another CA", cert: must(other.Issue(pki.CertRequest{CommonName: "admin", Organization: []string{"system:masters"}, Usage: pki.ClientAuth})),
			wantErr: "client certificate signed by an unknown authority"},
		{name: "expired", cert: old.Admin,
			wantErr: "client certificate expired or not yet valid"},
		{name: "server certificate", cert: p.APIServer, wantErr: "client certificate not valid for client authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client(p, tt.cert).Get(hs.URL)
			require.NoError(t, err)
			defer resp.Body.Close()
			var got authResult
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			require.Equal(t, tt.wantErr, got.Error)
			require.Equal(t, tt.wantOK, got.OK)
			if tt.wantOK {
				require.Equal(t, tt.wantUser, got.User.Name)
				require.Equal(t, tt.wantGroup, got.User.Groups)
			} else {
				require.Nil(t, got.User)
			}
		})
	}
}

// TestCertAuthenticatorAPIServer: the API server with the authenticator
// answers 401 to a certificate from another CA and knows the user of a good
// one.
func TestCertAuthenticatorAPIServer(t *testing.T) {
	p, err := pki.EnsureClusterPKI(t.TempDir(), pki.Options{Logger: quiet()})
	require.NoError(t, err)
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	var lastUser *apiserver.UserInfo
	srv, err := apiserver.New(apiserver.Options{
		Store:         st,
		Authenticator: p.Authenticator(),
		Authorizer: apiserver.AuthorizerFunc(func(ctx context.Context, a apiserver.Attributes) (apiserver.Decision, string, error) {
			mu.Lock()
			defer mu.Unlock()
			lastUser = a.User
			return apiserver.DecisionAllow, "", nil
		}),
		Logger: quiet(),
	})
	require.NoError(t, err)
	require.NoError(t, srv.EnsureSystemObjects(context.Background()))
	hs := tlsServer(t, p, srv)

	other, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	foreign := must(other.Issue(pki.CertRequest{CommonName: "admin", Organization: []string{"system:masters"}, Usage: pki.ClientAuth}))

	tests := []struct {
		name     string
		cert     *pki.Certificate
		wantCode int
		wantUser string
	}{
		{"admin", p.Admin, http.StatusOK, "admin"},
		{"no certificate is anonymous", nil, http.StatusOK, "system:anonymous"},
		{"another CA", foreign, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			lastUser = nil
			mu.Unlock()
			resp, err := client(p, tt.cert).Get(hs.URL + "/api/v1/namespaces")
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tt.wantCode, resp.StatusCode, "%s", body)
			mu.Lock()
			defer mu.Unlock()
			if tt.wantUser == "" {
				require.Nil(t, lastUser, "not authorized, not served")
				return
			}
			require.Equal(t, tt.wantUser, lastUser.Name)
		})
	}

	t.Run("client-go", func(t *testing.T) {
		good, err := p.Kubeconfig(hs.URL, p.Admin).RESTConfig()
		require.NoError(t, err)
		cs, err := kubernetes.NewForConfig(good)
		require.NoError(t, err)
		_, err = cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
		require.NoError(t, err)

		bad := p.Kubeconfig(hs.URL, foreign)
		bad.User = "intruder"
		cfg, err := bad.RESTConfig()
		require.NoError(t, err)
		cs, err = kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		_, err = cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
		require.True(t, apierrors.IsUnauthorized(err), "%v", err)
	})
}

func TestNewCertAuthenticatorNilRoots(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	c := must(ca.Issue(pki.CertRequest{CommonName: "x", Usage: pki.ClientAuth}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Cert}}
	_, ok, err := pki.NewCertAuthenticator(nil).AuthenticateRequest(r)
	require.Error(t, err)
	require.False(t, ok)
	u, ok, err := pki.NewCertAuthenticator(ca.Pool()).AuthenticateRequest(r)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "x", u.Name)
}
