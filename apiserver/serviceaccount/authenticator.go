package serviceaccount

import (
	"context"
	"crypto"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/store"
)

// Groups of service account users.
const (
	// AllGroup holds every service account.
	AllGroup = "system:serviceaccounts"
	// NamespaceGroupPrefix + namespace holds the namespace's accounts.
	NamespaceGroupPrefix = "system:serviceaccounts:"
)

// Extra keys on the users of bound tokens (as Kubernetes sets them).
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// ErrInvalidToken is the error of every refused token. Its text is all a
// client learns (the reason is in the wrapped error, for logs): it never
// contains the token.
var ErrInvalidToken = errors.New("invalid bearer token")

// AuthenticatorOptions configure an Authenticator.
type AuthenticatorOptions struct {
	// Keys verify signatures: the public keys of every signing key in use
	// (kube-apiserver's --service-account-key-file, several while rotating).
	// Required.
	Keys []crypto.PublicKey
	// Issuers are the accepted "iss" claims of TokenRequest tokens; empty
	// means DefaultIssuer. Legacy tokens (LegacyIssuer) are accepted when
	// Legacy is true.
	Issuers []string
	Legacy  bool
	// Audiences are the API server's audiences (--api-audiences): a token
	// must name one of them, unless the request's context names others
	// (apiserver.WithAudiences, as TokenReview does). Empty means Issuers.
	Audiences []string
	// Lookup finds accounts and bound objects. Required.
	Lookup Lookup
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Leeway tolerates clock skew on exp, nbf and iat; 0 means none.
	Leeway time.Duration
}

// Authenticator checks service account tokens. It implements
// apiserver.Authenticator: a request without a bearer JWT of one of its
// issuers is not its business (ok false), so other token authenticators can
// try. Safe for concurrent use.
type Authenticator struct {
	keys      map[string]crypto.PublicKey // by key ID
	issuers   []string
	audiences []string
	legacy    bool
	lookup    Lookup
	now       func() time.Time
	leeway    time.Duration
}

// NewAuthenticator checks opts and returns an Authenticator.
func NewAuthenticator(opts AuthenticatorOptions) (*Authenticator, error) {
	if len(opts.Keys) == 0 || opts.Lookup == nil {
		return nil, errors.New("serviceaccount: AuthenticatorOptions.Keys and Lookup are required")
	}
	a := &Authenticator{
		keys: map[string]crypto.PublicKey{}, issuers: opts.Issuers, audiences: opts.Audiences,
		legacy: opts.Legacy, lookup: opts.Lookup, now: opts.Now, leeway: opts.Leeway,
	}
	for _, k := range opts.Keys {
		if _, err := signingMethod(k); err != nil {
			return nil, err
		}
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		a.keys[kid] = k
	}
	if len(a.issuers) == 0 {
		a.issuers = []string{DefaultIssuer}
	}
	if len(a.audiences) == 0 {
		a.audiences = a.issuers
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// AuthenticateRequest implements apiserver.Authenticator.
func (a *Authenticator) AuthenticateRequest(r *http.Request) (*apiserver.UserInfo, bool, error) {
	token, ok := authn.BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	return a.AuthenticateToken(r.Context(), token)
}

// AuthenticateToken checks one token. ok is false for tokens that are not
// JWTs of this authenticator's issuers; an error (ErrInvalidToken) means
// the token is one of ours and is refused.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*apiserver.UserInfo, bool, error) {
	iss, ok := peekIssuer(token)
	if !ok {
		return nil, false, nil
	}
	legacy := iss == LegacyIssuer
	if legacy && !a.legacy || !legacy && !slices.Contains(a.issuers, iss) {
		return nil, false, nil
	}
	c, err := a.parse(token, legacy, apiserver.AudiencesFrom(ctx))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var u *apiserver.UserInfo
	if legacy {
		u, err = a.checkLegacy(ctx, token, c)
	} else {
		u, err = a.checkBound(ctx, c)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return u, true, nil
}

// peekIssuer reads the unverified "iss" of a JWT; ok is false when token
// is not one.
func peekIssuer(token string) (string, bool) {
	if strings.Count(token, ".") != 2 {
		return "", false
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return "", false
	}
	return c.Issuer, c.Issuer != ""
}

// parse verifies the signature and the time and audience claims.
func (a *Authenticator) parse(token string, legacy bool, wanted []string) (*Claims, error) {
	parserOpts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256", "ES256", "ES384", "ES512"}),
		jwt.WithTimeFunc(a.now),
		jwt.WithLeeway(a.leeway),
		jwt.WithIssuedAt(),
	}
	if !legacy {
		parserOpts = append(parserOpts, jwt.WithExpirationRequired())
	}
	c := &Claims{}
	_, err := jwt.NewParser(parserOpts...).ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != "" {
			if k, ok := a.keys[kid]; ok {
				return k, nil
			}
			return nil, errors.New("signed by an unknown key")
		}
		// Without a key ID, try every key.
		keys := jwt.VerificationKeySet{}
		for _, k := range a.keys {
			keys.Keys = append(keys.Keys, k)
		}
		return keys, nil
	})
	if err != nil {
		return nil, err
	}
	if legacy {
		return c, nil
	}
	if len(wanted) == 0 {
		wanted = a.audiences
	}
	if !slices.ContainsFunc(c.Audience, func(aud string) bool { return slices.Contains(wanted, aud) }) {
		return nil, fmt.Errorf("token audiences %q are not among the accepted %q", []string(c.Audience), wanted)
	}
	return c, nil
}

// checkBound checks a TokenRequest token's account and bound objects.
func (a *Authenticator) checkBound(ctx context.Context, c *Claims) (*apiserver.UserInfo, error) {
	k := c.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" {
		return nil, errors.New("no kubernetes.io claims")
	}
	if c.Subject != Subject(k.Namespace, k.ServiceAccount.Name) {
		return nil, errors.New("subject does not match the service account")
	}
	sa, err := a.lookup.ServiceAccount(ctx, k.Namespace, k.ServiceAccount.Name)
	if err := checkObject(sa, err, k.ServiceAccount.UID, func(sa *corev1.ServiceAccount) (types.UID, bool) {
		return sa.UID, sa.DeletionTimestamp != nil
	}); err != nil {
		return nil, fmt.Errorf("service account: %w", err)
	}
	u := userOf(sa)
	if k.Pod != nil {
		pod, err := a.lookup.Pod(ctx, k.Namespace, k.Pod.Name)
		if err := checkObject(pod, err, k.Pod.UID, func(p *corev1.Pod) (types.UID, bool) {
			return p.UID, p.DeletionTimestamp != nil && !p.DeletionTimestamp.Time.After(a.now())
		}); err != nil {
			return nil, fmt.Errorf("bound pod: %w", err)
		}
		u.Extra[ExtraPodName] = []string{pod.Name}
		u.Extra[ExtraPodUID] = []string{string(pod.UID)}
	}
	if k.Secret != nil {
		secret, err := a.lookup.Secret(ctx, k.Namespace, k.Secret.Name)
		if err := checkObject(secret, err, k.Secret.UID, func(s *corev1.Secret) (types.UID, bool) {
			return s.UID, s.DeletionTimestamp != nil
		}); err != nil {
			return nil, fmt.Errorf("bound secret: %w", err)
		}
	}
	if k.Node != nil {
		// A node bound through a pod is informational; a token bound to a
		// node alone dies with it.
		if k.Pod == nil {
			node, err := a.lookup.Node(ctx, k.Node.Name)
			if err := checkObject(node, err, k.Node.UID, func(n *corev1.Node) (types.UID, bool) {
				return n.UID, n.DeletionTimestamp != nil
			}); err != nil {
				return nil, fmt.Errorf("bound node: %w", err)
			}
		}
		u.Extra[ExtraNodeName] = []string{k.Node.Name}
		if k.Node.UID != "" {
			u.Extra[ExtraNodeUID] = []string{k.Node.UID}
		}
	}
	if c.ID != "" {
		u.Extra[ExtraCredentialID] = []string{"JTI=" + c.ID}
	}
	if len(u.Extra) == 0 {
		u.Extra = nil
	}
	return u, nil
}

// checkLegacy checks a secret token: the secret must still hold exactly
// this token for the account, which must still exist.
func (a *Authenticator) checkLegacy(ctx context.Context, token string, c *Claims) (*apiserver.UserInfo, error) {
	if c.LegacyNamespace == "" || c.LegacySecretName == "" || c.LegacyAccountName == "" {
		return nil, errors.New("missing legacy service account claims")
	}
	if c.Subject != Subject(c.LegacyNamespace, c.LegacyAccountName) {
		return nil, errors.New("subject does not match the service account")
	}
	secret, err := a.lookup.Secret(ctx, c.LegacyNamespace, c.LegacySecretName)
	if err != nil {
		return nil, fmt.Errorf("token secret: %w", notFound(err))
	}
	if secret.DeletionTimestamp != nil {
		return nil, errors.New("token secret is being deleted")
	}
	if subtle.ConstantTimeCompare(secret.Data[corev1.ServiceAccountTokenKey], []byte(token)) != 1 {
		return nil, errors.New("token does not match its secret")
	}
	sa, err := a.lookup.ServiceAccount(ctx, c.LegacyNamespace, c.LegacyAccountName)
	if err := checkObject(sa, err, c.LegacyAccountUID, func(sa *corev1.ServiceAccount) (types.UID, bool) {
		return sa.UID, sa.DeletionTimestamp != nil
	}); err != nil {
		return nil, fmt.Errorf("service account: %w", err)
	}
	u := userOf(sa)
	u.Extra = nil
	return u, nil
}

// checkObject checks a looked-up object against the UID of the claims.
func checkObject[T any](obj *T, err error, uid string, meta func(*T) (types.UID, bool)) error {
	if err != nil {
		return notFound(err)
	}
	got, deleting := meta(obj)
	if uid != "" && string(got) != uid {
		return fmt.Errorf("UID %s does not match %s: the object was replaced", got, uid)
	}
	if deleting {
		return errors.New("is being deleted")
	}
	return nil
}

// notFound turns a lookup's "not found" (which names store keys) into
// the reason a client may read.
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errDeleted
	}
	return err
}

var errDeleted = errors.New("has been deleted")

func userOf(sa *corev1.ServiceAccount) *apiserver.UserInfo {
	return &apiserver.UserInfo{
		Name:   Subject(sa.Namespace, sa.Name),
		UID:    string(sa.UID),
		Groups: []string{AllGroup, NamespaceGroupPrefix + sa.Namespace, authn.AuthenticatedGroup},
		Extra:  map[string][]string{},
	}
}
