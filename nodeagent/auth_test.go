package nodeagent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/runtime/fake"
)

// fakeReviews is an API server that answers TokenReviews and
// SubjectAccessReviews only: tokens maps tokens to users; a user in
// allowed may do anything, others are denied with a reason.
type fakeReviews struct {
	tokens             map[string]string
	allowed            map[string]bool
	tokenReviews, sars atomic.Int32
}

func (f *fakeReviews) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		f.tokenReviews.Add(1)
		var tr authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&tr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if user, ok := f.tokens[tr.Spec.Token]; ok {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true,
				User: authenticationv1.UserInfo{Username: user, Groups: []string{"system:authenticated"}}}
		} else {
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid token"}
		}
		tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenReview"
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(&tr)
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		f.sars.Add(1)
		var sar authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&sar); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ra := sar.Spec.ResourceAttributes
		if f.allowed[sar.Spec.User] && ra != nil && ra.Resource == "nodes" && ra.Name == "n1" {
			sar.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true}
		} else {
			sar.Status = authorizationv1.SubjectAccessReviewStatus{Reason: "no RBAC rule lets " + sar.Spec.User + " " + ra.Verb + " nodes/" + ra.Subresource}
		}
		sar.APIVersion, sar.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(&sar)
	default:
		http.NotFound(w, r)
	}
}

func reviewClient(t *testing.T, h http.Handler) kubernetes.Interface {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	require.NoError(t, err)
	return cs
}

// runAgent runs a node agent n1 on the fake runtime with opts' TLS and
// auth until the test ends and returns the address its API listens at.
func runAgent(t *testing.T, opts nodeagent.Options) string {
	t.Helper()
	rt, err := fake.New(fake.Options{})
	require.NoError(t, err)
	cs := apiServer(t)
	opts.NodeName, opts.Client, opts.Runtime = "n1", cs, rt
	opts.NodeIP, opts.ServeAddress = netip.MustParseAddr("127.0.0.1"), "127.0.0.1:0"
	agent, err := nodeagent.New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	var port int32
	require.Eventually(t, func() bool {
		n, err := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return false
		}
		port = n.Status.DaemonEndpoints.KubeletEndpoint.Port
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return port != 0
			}
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "the node to be Ready, with its port")
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
}

func TestAPIAuthentication(t *testing.T) {
	ca, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	serving, err := ca.Issue(pki.NodeServingCertRequest("n1", []net.IP{net.IPv4(127, 0, 0, 1)}))
	require.NoError(t, err)
	serverTLS, err := pki.ServerTLSConfig(serving, ca.Pool())
	require.NoError(t, err)

	reviews := &fakeReviews{
		tokens:  map[string]string{"alice-token": "alice", "bob-token": "bob"},
		allowed: map[string]bool{"alice": true, "kube-apiserver-kubelet-client": true},
	}
	rc := reviewClient(t, reviews)
	tokens, err := nodeagent.NewTokenReviewAuthenticator(nodeagent.TokenReviewOptions{Client: rc})
	require.NoError(t, err)
	sar, err := nodeagent.NewSubjectAccessReviewAuthorizer(nodeagent.SubjectAccessReviewOptions{Client: rc})
	require.NoError(t, err)
	addr := runAgent(t, nodeagent.Options{
		TLSConfig:     serverTLS,
		Authenticator: authn.Union(pki.NewCertAuthenticator(ca.Pool()), tokens),
		Authorizer:    sar,
	})

	// client presents its certificate, if any, whatever CAs the server
	// names as acceptable.
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: ca.Pool(), ServerName: "n1",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if len(certs) == 0 {
					return &tls.Certificate{}, nil
				}
				return &certs[0], nil
			},
		}}}
	}
	clientCert := func(ca *pki.CA, user string) tls.Certificate {
		c, err := ca.Issue(pki.CertRequest{CommonName: user, Usage: pki.ClientAuth})
		require.NoError(t, err)
		tc, err := c.TLSCertificate()
		require.NoError(t, err)
		return tc
	}
	otherCA, err := pki.NewCA(pki.CAOptions{CommonName: "other"})
	require.NoError(t, err)

	get := func(t *testing.T, c *http.Client, path, token string) (int, metav1.Status) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var st metav1.Status
		if resp.StatusCode != http.StatusOK {
			require.NoError(t, json.Unmarshal(body, &st), "a Status: %s", body)
			require.Equal(t, int32(resp.StatusCode), st.Code)
		}
		return resp.StatusCode, st
	}

	for _, tt := range []struct {
		name     string
		client   *http.Client
		path     string
		token    string
		code     int
		contains string
	}{
		{"no credentials", client(), "/pods", "", http.StatusUnauthorized, "client certificate or a bearer token"},
		{"certificate of another CA", client(clientCert(otherCA, "alice")), "/pods", "", http.StatusUnauthorized, "unknown authority"},
		{"unknown token", client(), "/pods", "not-a-token", http.StatusUnauthorized, "invalid bearer token"},
		{"token of a user without nodes/proxy", client(), "/pods", "bob-token", http.StatusForbidden, `User "bob" cannot get resource "nodes/proxy" in API group "": no RBAC rule lets bob get nodes/proxy`},
		{"certificate of a user without nodes/proxy", client(clientCert(ca, "carol")), "/containerLogs/default/p/c", "", http.StatusForbidden, `User "carol" cannot get resource "nodes/proxy"`},
		{"allowed token", client(), "/pods", "alice-token", http.StatusOK, ""},
		{"allowed certificate", client(clientCert(ca, "kube-apiserver-kubelet-client")), "/pods", "", http.StatusOK, ""},
		{"health without credentials", client(), "/healthz", "", http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, st := get(t, tt.client, tt.path, tt.token)
			require.Equal(t, tt.code, code, "%+v", st)
			require.Contains(t, st.Message, tt.contains)
		})
	}

	t.Run("answers are cached", func(t *testing.T) {
		trs, sars := reviews.tokenReviews.Load(), reviews.sars.Load()
		for range 3 {
			code, _ := get(t, client(), "/pods", "alice-token")
			require.Equal(t, http.StatusOK, code)
		}
		require.Equal(t, trs, reviews.tokenReviews.Load(), "no new TokenReview")
		require.Equal(t, sars, reviews.sars.Load(), "no new SubjectAccessReview")
	})
}

// TestAPISelfSigned: without a serving certificate the agent makes a
// self-signed one; without authentication configured the API is open, and
// the API server's DefaultNodeConnection reaches it.
func TestAPISelfSigned(t *testing.T) {
	addr := runAgent(t, nodeagent.Options{})
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	node := nodeWithEndpoint("n1", host, int32(p))
	base, transport, err := apiserver.DefaultNodeConnection(context.Background(), node)
	require.NoError(t, err)
	require.Equal(t, "https", base.Scheme)
	resp, err := (&http.Client{Transport: transport}).Get(base.JoinPath("pods").String())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "HTTP/1.1", resp.Proto)
	leaf := resp.TLS.PeerCertificates[0]
	require.NoError(t, leaf.VerifyHostname("n1"))
	require.NoError(t, leaf.VerifyHostname("127.0.0.1"))
	_, err = leaf.Verify(x509.VerifyOptions{})
	require.Error(t, err, "not trusted by the system")
}

func TestSelfSignedTLSConfig(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tc, err := nodeagent.SelfSignedTLSConfig("node-a", netip.MustParseAddr("192.0.2.7"), now)
	require.NoError(t, err)
	require.Len(t, tc.Certificates, 1)
	chain := tc.Certificates[0].Certificate
	require.Len(t, chain, 2, "the certificate and its own CA")
	leaf, err := x509.ParseCertificate(chain[0])
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(chain[1])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	for _, name := range []string{"node-a", "localhost", "192.0.2.7", "127.0.0.1"} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now.Add(time.Hour)})
		require.NoError(t, err, name)
	}
	require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, leaf.ExtKeyUsage)

	// A name that is no DNS name stays out of the names.
	tc, err = nodeagent.SelfSignedTLSConfig("Not_A_DNS_Name", netip.Addr{}, now)
	require.NoError(t, err)
	leaf, err = x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	require.NoError(t, err)
	require.Equal(t, []string{"localhost"}, leaf.DNSNames)
}

func TestRequestAttributes(t *testing.T) {
	u := &apiserver.UserInfo{Name: "alice"}
	for _, tt := range []struct {
		method, path, verb, sub string
	}{
		{http.MethodGet, "/pods", "get", "proxy"},
		{http.MethodHead, "/pods", "get", "proxy"},
		{http.MethodGet, "/containerLogs/default/web/app", "get", "proxy"},
		{http.MethodPost, "/exec/default/web/app", "create", "proxy"},
		{http.MethodGet, "/exec/default/web/app", "get", "proxy"},
		{http.MethodPost, "/attach/default/web/app", "create", "proxy"},
		{http.MethodPost, "/run/default/web/app", "create", "proxy"},
		{http.MethodPost, "/portForward/default/web", "create", "proxy"},
		{http.MethodGet, "/metrics", "get", "metrics"},
		{http.MethodGet, "/metrics/cadvisor", "get", "metrics"},
		{http.MethodGet, "/stats/summary", "get", "stats"},
		{http.MethodGet, "/logs/syslog", "get", "log"},
		{http.MethodGet, "/spec/", "get", "spec"},
		{http.MethodPut, "/pods", "update", "proxy"},
		{http.MethodPatch, "/pods", "patch", "proxy"},
		{http.MethodDelete, "/pods", "delete", "proxy"},
		{http.MethodGet, "/", "get", "proxy"},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			a := nodeagent.RequestAttributes("n1", u, r)
			require.Equal(t, apiserver.Attributes{User: u, Verb: tt.verb, ResourceRequest: true, APIVersion: "v1",
				Resource: "nodes", Subresource: tt.sub, Name: "n1"}, a)
		})
	}
}

func TestTokenReviewCache(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reviews := &fakeReviews{tokens: map[string]string{"good": "alice"}}
	a, err := nodeagent.NewTokenReviewAuthenticator(nodeagent.TokenReviewOptions{
		Client: reviewClient(t, reviews), TTL: time.Minute, FailureTTL: 10 * time.Second, Clock: clk,
	})
	require.NoError(t, err)
	auth := func(token string) (*apiserver.UserInfo, bool, error) {
		r := httptest.NewRequest(http.MethodGet, "/pods", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return a.AuthenticateRequest(r)
	}

	u, ok, err := auth("")
	require.NoError(t, err)
	require.False(t, ok, "no token: not its business")
	require.Nil(t, u)
	require.Zero(t, reviews.tokenReviews.Load())

	u, ok, err = auth("good")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "alice", u.Name)
	_, _, err = auth("bad")
	require.ErrorIs(t, err, nodeagent.ErrInvalidToken)
	require.NotContains(t, err.Error(), "bad", "the token is not repeated")
	require.EqualValues(t, 2, reviews.tokenReviews.Load())

	clk.SetTime(clk.Now().Add(9 * time.Second))
	_, ok, _ = auth("good")
	require.True(t, ok)
	_, _, err = auth("bad")
	require.ErrorIs(t, err, nodeagent.ErrInvalidToken)
	require.EqualValues(t, 2, reviews.tokenReviews.Load(), "both answers cached")

	clk.SetTime(clk.Now().Add(2 * time.Second))
	_, _, err = auth("bad")
	require.ErrorIs(t, err, nodeagent.ErrInvalidToken)
	require.EqualValues(t, 3, reviews.tokenReviews.Load(), "a refusal is cached for FailureTTL")

	reviews.tokens["bad"] = "bob" // the token has been made since
	clk.SetTime(clk.Now().Add(time.Minute))
	u, ok, err = auth("bad")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "bob", u.Name)
	_, ok, _ = auth("good")
	require.True(t, ok)
	require.EqualValues(t, 5, reviews.tokenReviews.Load(), "an acceptance is cached for TTL")

	t.Run("the API server fails", func(t *testing.T) {
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusInternalServerError)
		}))
		defer down.Close()
		cs, err := kubernetes.NewForConfig(&rest.Config{Host: down.URL})
		require.NoError(t, err)
		a, err := nodeagent.NewTokenReviewAuthenticator(nodeagent.TokenReviewOptions{Client: cs})
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/pods", nil)
		r.Header.Set("Authorization", "Bearer secret-token")
		_, ok, err := a.AuthenticateRequest(r)
		require.False(t, ok)
		require.ErrorContains(t, err, "reviewing the bearer token")
		require.NotContains(t, err.Error(), "secret-token")
	})
}

func TestSubjectAccessReviewCache(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reviews := &fakeReviews{allowed: map[string]bool{"alice": true}}
	z, err := nodeagent.NewSubjectAccessReviewAuthorizer(nodeagent.SubjectAccessReviewOptions{
		Client: reviewClient(t, reviews), AllowTTL: time.Minute, DenyTTL: 10 * time.Second, Clock: clk,
	})
	require.NoError(t, err)
	ask := func(user string) (apiserver.Decision, string) {
		r := httptest.NewRequest(http.MethodGet, "/pods", nil)
		d, reason, err := z.Authorize(context.Background(), nodeagent.RequestAttributes("n1", &apiserver.UserInfo{Name: user}, r))
		require.NoError(t, err)
		return d, reason
	}
	d, _ := ask("alice")
	require.Equal(t, apiserver.DecisionAllow, d)
	d, reason := ask("bob")
	require.Equal(t, apiserver.DecisionNoOpinion, d)
	require.Equal(t, "no RBAC rule lets bob get nodes/proxy", reason)
	ask("alice")
	ask("bob")
	require.EqualValues(t, 2, reviews.sars.Load())
	clk.SetTime(clk.Now().Add(11 * time.Second))
	ask("alice")
	ask("bob")
	require.EqualValues(t, 3, reviews.sars.Load(), "a denial is cached for DenyTTL, an allowance longer")

	_, err = nodeagent.NewSubjectAccessReviewAuthorizer(nodeagent.SubjectAccessReviewOptions{})
	require.Error(t, err)
	_, err = nodeagent.NewTokenReviewAuthenticator(nodeagent.TokenReviewOptions{})
	require.Error(t, err)
}

func nodeWithEndpoint(name, ip string, port int32) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	return n
}

func TestAuthOptions(t *testing.T) {
	rt, err := fake.New(fake.Options{})
	require.NoError(t, err)
	_, err = nodeagent.New(nodeagent.Options{
		NodeName: "n1", Client: reviewClient(t, http.NotFoundHandler()), Runtime: rt,
		Authenticator: pki.NewCertAuthenticator(nil),
	})
	require.ErrorContains(t, err, "Authenticator and Authorizer go together")
}
