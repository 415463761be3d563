package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
)

// objects is a Lookup over maps, keyed "namespace/name".
type objects struct {
	accounts map[string]*corev1.ServiceAccount
	pods     map[string]*corev1.Pod
	secrets  map[string]*corev1.Secret
	nodes    map[string]*corev1.Node
}

func newObjects() *objects {
	return &objects{map[string]*corev1.ServiceAccount{}, map[string]*corev1.Pod{}, map[string]*corev1.Secret{}, map[string]*corev1.Node{}}
}

func find[T any](m map[string]*T, key string) (*T, error) {
	if v, ok := m[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("%s: %w", key, store.ErrNotFound)
}

func (o *objects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return find(o.accounts, ns+"/"+name)
}
func (o *objects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	return find(o.pods, ns+"/"+name)
}
func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	return find(o.secrets, ns+"/"+name)
}
func (o *objects) Node(_ context.Context, name string) (*corev1.Node, error) {
	return find(o.nodes, name)
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

type fixture struct {
	now    time.Time
	key    crypto.Signer
	issuer *Issuer
	authn  *Authenticator
	objs   *objects
	sa     *corev1.ServiceAccount
}

func newFixture(t testing.TB, key crypto.Signer) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), key: key, objs: newObjects()}
	clock := func() time.Time { return f.now }
	var err error
	f.issuer, err = NewIssuer(IssuerOptions{Key: key, Now: clock})
	require.NoError(t, err)
	f.authn, err = NewAuthenticator(AuthenticatorOptions{Keys: []crypto.PublicKey{key.Public()}, Legacy: true, Lookup: f.objs, Now: clock})
	require.NoError(t, err)
	f.sa = &corev1.ServiceAccount{ObjectMeta: meta("team", "builder", "sa-1")}
	f.objs.accounts["team/builder"] = f.sa
	return f
}

func (f *fixture) token(t *testing.T, mutate func(*apiserver.ServiceAccountToken)) string {
	t.Helper()
	req := &apiserver.ServiceAccountToken{ServiceAccount: f.sa, Audiences: []string{DefaultIssuer}, Expiration: time.Hour}
	if mutate != nil {
		mutate(req)
	}
	tok, exp, err := f.issuer.IssueToken(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, f.now.Add(req.Expiration), exp)
	return tok
}

func (f *fixture) authenticate(token string) (*apiserver.UserInfo, bool, error) {
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return f.authn.AuthenticateRequest(r)
}

func rsaKey(t *testing.T) crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

func ecKey(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func TestTokenAuthenticates(t *testing.T) {
	for name, key := range map[string]crypto.Signer{"RSA": rsaKey(t), "ECDSA": ecKey(t)} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, key)
			u, ok, err := f.authenticate(f.token(t, nil))
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "system:serviceaccount:team:builder", u.Name)
			require.Equal(t, "sa-1", u.UID)
			require.Equal(t, []string{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"}, u.Groups)
			require.Len(t, u.Extra[ExtraCredentialID], 1)
		})
	}
}

func TestTokenRefused(t *testing.T) {
	key := ecKey(t)
	for _, tc := range []struct {
		name   string
		token  func(f *fixture) string
		change func(f *fixture)
		reason string
	}{
		{"expired", func(f *fixture) string { return f.token(t, nil) },
			func(f *fixture) { f.now = f.now.Add(time.Hour + time.Second) }, "token is expired"},
		{"not yet valid", func(f *fixture) string { return f.token(t, nil) },
			func(f *fixture) { f.now = f.now.Add(-time.Minute) }, "not valid yet"},
		{"account deleted", func(f *fixture) string { return f.token(t, nil) },
			func(f *fixture) { delete(f.objs.accounts, "team/builder") }, "service account: has been deleted"},
		{"account replaced", func(f *fixture) string { return f.token(t, nil) },
			func(f *fixture) {
				f.objs.accounts["team/builder"] = &corev1.ServiceAccount{ObjectMeta: meta("team", "builder", "sa-2")}
			}, "was replaced"},
		{"account being deleted", func(f *fixture) string { return f.token(t, nil) },
			func(f *fixture) { f.sa.DeletionTimestamp = &metav1.Time{Time: f.now} }, "is being deleted"},
		{"bound pod deleted", func(f *fixture) string {
			pod := &corev1.Pod{ObjectMeta: meta("team", "web", "pod-1")}
			f.objs.pods["team/web"] = pod
			return f.token(t, func(r *apiserver.ServiceAccountToken) { r.Pod = pod })
		}, func(f *fixture) { delete(f.objs.pods, "team/web") }, "bound pod: has been deleted"},
		{"bound secret replaced", func(f *fixture) string {
			s := &corev1.Secret{ObjectMeta: meta("team", "s", "secret-1")}
			f.objs.secrets["team/s"] = s
			return f.token(t, func(r *apiserver.ServiceAccountToken) { r.Secret = s })
		}, func(f *fixture) { f.objs.secrets["team/s"] = &corev1.Secret{ObjectMeta: meta("team", "s", "secret-2")} }, "was replaced"},
		{"bound node deleted", func(f *fixture) string {
			n := &corev1.Node{ObjectMeta: meta("", "n1", "node-1")}
			f.objs.nodes["n1"] = n
			return f.token(t, func(r *apiserver.ServiceAccountToken) { r.Node = n })
		}, func(f *fixture) { delete(f.objs.nodes, "n1") }, "bound node: has been deleted"},
		{"other audience", func(f *fixture) string {
			return f.token(t, func(r *apiserver.ServiceAccountToken) { r.Audiences = []string{"vault"} })
		}, nil, "not among the accepted"},
		{"tampered claims", func(f *fixture) string {
			parts := strings.Split(f.token(t, nil), ".")
			claims, err := base64.RawURLEncoding.DecodeString(parts[1])
			require.NoError(t, err)
			claims = []byte(strings.Replace(string(claims), `"builder"`, `"admin00"`, -1))
			parts[1] = base64.RawURLEncoding.EncodeToString(claims)
			return strings.Join(parts, ".")
		}, nil, "signature is invalid"},
		{"unknown key", func(f *fixture) string {
			other, err := NewIssuer(IssuerOptions{Key: ecKey(t), Now: func() time.Time { return f.now }})
			require.NoError(t, err)
			tok, _, err := other.IssueToken(context.Background(), &apiserver.ServiceAccountToken{ServiceAccount: f.sa, Audiences: []string{DefaultIssuer}, Expiration: time.Hour})
			require.NoError(t, err)
			return tok
		}, nil, "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, key)
			tok := tc.token(f)
			if tc.change != nil {
				tc.change(f)
			}
			u, ok, err := f.authenticate(tok)
			require.ErrorIs(t, err, ErrInvalidToken)
			require.ErrorContains(t, err, tc.reason)
			require.NotContains(t, err.Error(), tok, "the error shows the token")
			require.False(t, ok)
			require.Nil(t, u)
		})
	}
}

func TestBoundPodToken(t *testing.T) {
	f := newFixture(t, ecKey(t))
	pod := &corev1.Pod{ObjectMeta: meta("team", "web", "pod-1")}
	f.objs.pods["team/web"] = pod
	tok := f.token(t, func(r *apiserver.ServiceAccountToken) {
		r.Pod = pod
		r.Node = &corev1.Node{ObjectMeta: meta("", "n1", "node-1")}
	})
	u, ok, err := f.authenticate(tok)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []string{"web"}, u.Extra[ExtraPodName])
	require.Equal(t, []string{"pod-1"}, u.Extra[ExtraPodUID])
	require.Equal(t, []string{"n1"}, u.Extra[ExtraNodeName])

	// A pod whose graceful deletion has begun keeps its token until the
	// deadline passes.
	pod.DeletionTimestamp = &metav1.Time{Time: f.now.Add(30 * time.Second)}
	_, ok, err = f.authenticate(tok)
	require.NoError(t, err)
	require.True(t, ok)
	f.now = f.now.Add(31 * time.Second)
	_, _, err = f.authenticate(tok)
	require.ErrorContains(t, err, "bound pod: is being deleted")
}

func TestAudiencesFromContext(t *testing.T) {
	f := newFixture(t, ecKey(t))
	tok := f.token(t, func(r *apiserver.ServiceAccountToken) { r.Audiences = []string{"vault", "nats"} })
	_, _, err := f.authn.AuthenticateToken(context.Background(), tok)
	require.ErrorContains(t, err, "not among the accepted")
	u, ok, err := f.authn.AuthenticateToken(apiserver.WithAudiences(context.Background(), []string{"nats"}), tok)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "system:serviceaccount:team:builder", u.Name)
}

func TestLegacyToken(t *testing.T) {
	f := newFixture(t, rsaKey(t))
	secret := &corev1.Secret{ObjectMeta: meta("team", "builder-token", "secret-1"), Type: corev1.SecretTypeServiceAccountToken}
	tok, err := f.issuer.LegacyToken(f.sa, secret)
	require.NoError(t, err)

	// Not yet in its secret: refused.
	f.objs.secrets["team/builder-token"] = secret
	_, _, err = f.authenticate(tok)
	require.ErrorContains(t, err, "does not match its secret")

	secret.Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte(tok)}
	f.now = f.now.Add(10 * 365 * 24 * time.Hour) // legacy tokens do not expire
	u, ok, err := f.authenticate(tok)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "system:serviceaccount:team:builder", u.Name)

	delete(f.objs.secrets, "team/builder-token")
	_, _, err = f.authenticate(tok)
	require.ErrorContains(t, err, "token secret: has been deleted")

	// Legacy tokens can be turned off: then they are not this
	// authenticator's business.
	f.objs.secrets["team/builder-token"] = secret
	noLegacy, err := NewAuthenticator(AuthenticatorOptions{Keys: []crypto.PublicKey{f.key.Public()}, Lookup: f.objs, Now: func() time.Time { return f.now }})
	require.NoError(t, err)
	_, ok, err = noLegacy.AuthenticateToken(context.Background(), tok)
	require.NoError(t, err)
	require.False(t, ok)
}

func TestOtherTokensAreNotOurs(t *testing.T) {
	f := newFixture(t, ecKey(t))
	other, err := NewIssuer(IssuerOptions{Key: f.key, Issuer: "https://elsewhere", Now: func() time.Time { return f.now }})
	require.NoError(t, err)
	foreign, _, err := other.IssueToken(context.Background(), &apiserver.ServiceAccountToken{ServiceAccount: f.sa, Audiences: []string{"x"}, Expiration: time.Hour})
	require.NoError(t, err)
	for _, tok := range []string{"s3cret-static-token", "a.b.c", "", foreign} {
		u, ok, err := f.authenticate(tok)
		require.NoError(t, err, tok)
		require.False(t, ok, tok)
		require.Nil(t, u)
	}
	u, ok, err := f.authn.AuthenticateRequest(httptest.NewRequest("GET", "/", nil))
	require.NoError(t, err)
	require.False(t, ok)
	require.Nil(t, u)
}

func TestIssuerRefusesBadInput(t *testing.T) {
	_, err := NewIssuer(IssuerOptions{})
	require.Error(t, err)
	_, err = NewAuthenticator(AuthenticatorOptions{Lookup: newObjects()})
	require.Error(t, err)
	f := newFixture(t, ecKey(t))
	for _, req := range []*apiserver.ServiceAccountToken{
		{Audiences: []string{"a"}, Expiration: time.Hour},
		{ServiceAccount: f.sa, Expiration: time.Hour},
		{ServiceAccount: f.sa, Audiences: []string{"a"}},
	} {
		_, _, err := f.issuer.IssueToken(context.Background(), req)
		require.Error(t, err)
	}
}

// FuzzAuthenticateToken: no input panics the token parser, and nothing but
// a token the issuer signed authenticates.
func FuzzAuthenticateToken(f *testing.F) {
	fx := newFixture(f, mustECKey())
	valid, _, err := fx.issuer.IssueToken(context.Background(), &apiserver.ServiceAccountToken{ServiceAccount: fx.sa, Audiences: []string{DefaultIssuer}, Expiration: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMuY2x1c3Rlci5sb2NhbCJ9.")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		u, ok, err := fx.authn.AuthenticateToken(context.Background(), token)
		if ok && (err != nil || u == nil || token != valid) {
			t.Fatalf("token %q authenticated as %v (err %v)", token, u, err)
		}
	})
}

func mustECKey() crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}
