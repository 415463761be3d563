package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/gantryhq/gantry/apiserver"
)

// DefaultIssuer is the issuer ("iss") of the tokens of the TokenRequest API
// when none is configured (kube-apiserver's --service-account-issuer),
// also their default audience.
const DefaultIssuer = apiserver.DefaultAPIAudience

// LegacyIssuer is the issuer of the tokens kept in secrets of type
// kubernetes.io/service-account-token.
const LegacyIssuer = "kubernetes/serviceaccount"

// MinExpiration is the shortest lifetime a TokenRequest may ask for.
const MinExpiration = 10 * time.Minute

// Claims are the claims of a token; RegisteredClaims are the standard ones
// (iss, sub, aud, exp, nbf, iat, jti).
type Claims struct {
	jwt.RegisteredClaims
	// Kubernetes is the "kubernetes.io" claim of TokenRequest tokens.
	Kubernetes *KubernetesClaims `json:"kubernetes.io,omitempty"`

	// The claims of legacy (secret) tokens.
	LegacyNamespace   string `json:"kubernetes.io/serviceaccount/namespace,omitempty"`
	LegacySecretName  string `json:"kubernetes.io/serviceaccount/secret.name,omitempty"`
	LegacyAccountName string `json:"kubernetes.io/serviceaccount/service-account.name,omitempty"`
	LegacyAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid,omitempty"`
}

// KubernetesClaims name the service account and what the token is bound
// to.
type KubernetesClaims struct {
	Namespace      string `json:"namespace"`
	ServiceAccount Ref    `json:"serviceaccount"`
	Pod            *Ref   `json:"pod,omitempty"`
	Secret         *Ref   `json:"secret,omitempty"`
	Node           *Ref   `json:"node,omitempty"`
}

// Ref names an object and its UID.
type Ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Subject returns the "sub" claim and user name of a service account:
// system:serviceaccount:<namespace>:<name>.
func Subject(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// IssuerOptions configure an Issuer.
type IssuerOptions struct {
	// Key signs the tokens: an RSA key (RS256) or an ECDSA key on P-256
	// (ES256), P-384 (ES384) or P-521 (ES512). Required.
	Key crypto.Signer
	// Issuer is the "iss" claim of TokenRequest tokens; empty means
	// DefaultIssuer.
	Issuer string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Issuer signs service account tokens. Safe for concurrent use.
type Issuer struct {
	key    crypto.Signer
	method jwt.SigningMethod
	kid    string
	iss    string
	now    func() time.Time
}

// NewIssuer checks opts and returns an Issuer.
func NewIssuer(opts IssuerOptions) (*Issuer, error) {
	if opts.Key == nil {
		return nil, errors.New("serviceaccount: IssuerOptions.Key is required")
	}
	method, err := signingMethod(opts.Key.Public())
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(opts.Key.Public())
	if err != nil {
		return nil, err
	}
	if opts.Issuer == "" {
		opts.Issuer = DefaultIssuer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Issuer{key: opts.Key, method: method, kid: kid, iss: opts.Issuer, now: opts.Now}, nil
}

// Issuer returns the "iss" claim of the TokenRequest tokens i signs.
func (i *Issuer) Issuer() string { return i.iss }

var _ apiserver.TokenIssuer = (*Issuer)(nil)

// IssueToken implements apiserver.TokenIssuer: it signs a TokenRequest
// token and returns it with its expiry.
func (i *Issuer) IssueToken(_ context.Context, req *apiserver.ServiceAccountToken) (string, time.Time, error) {
	sa := req.ServiceAccount
	if sa == nil || sa.Name == "" || sa.Namespace == "" {
		return "", time.Time{}, errors.New("serviceaccount: a token needs a service account with a name and namespace")
	}
	if len(req.Audiences) == 0 {
		return "", time.Time{}, errors.New("serviceaccount: a token needs an audience")
	}
	if req.Expiration <= 0 {
		return "", time.Time{}, fmt.Errorf("serviceaccount: token lifetime %v is not positive", req.Expiration)
	}
	now := i.now().Truncate(time.Second)
	exp := now.Add(req.Expiration)
	k := &KubernetesClaims{Namespace: sa.Namespace, ServiceAccount: Ref{Name: sa.Name, UID: string(sa.UID)}}
	if req.Pod != nil {
		k.Pod = &Ref{Name: req.Pod.Name, UID: string(req.Pod.UID)}
	}
	if req.Secret != nil {
		k.Secret = &Ref{Name: req.Secret.Name, UID: string(req.Secret.UID)}
	}
	if req.Node != nil {
		k.Node = &Ref{Name: req.Node.Name, UID: string(req.Node.UID)}
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.iss,
			Subject:   Subject(sa.Namespace, sa.Name),
			Audience:  jwt.ClaimStrings(req.Audiences),
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        string(uuid.NewUUID()),
		},
		Kubernetes: k,
	}
	token, err := i.sign(c)
	return token, exp, err
}

// LegacyToken signs the token of a secret of type
// kubernetes.io/service-account-token: it has no audience and no expiry
// and is valid while the secret holds it and the account exists.
func (i *Issuer) LegacyToken(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error) {
	if sa == nil || secret == nil || sa.Namespace != secret.Namespace {
		return "", errors.New("serviceaccount: a legacy token needs a service account and a secret in its namespace")
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:  LegacyIssuer,
			Subject: Subject(sa.Namespace, sa.Name),
		},
		LegacyNamespace:   sa.Namespace,
		LegacySecretName:  secret.Name,
		LegacyAccountName: sa.Name,
		LegacyAccountUID:  string(sa.UID),
	}
	return i.sign(c)
}

func (i *Issuer) sign(c *Claims) (string, error) {
	t := jwt.NewWithClaims(i.method, c)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("serviceaccount: signing a token: %w", err)
	}
	return s, nil
}

// signingMethod is the JWT algorithm of a public key.
func signingMethod(pub crypto.PublicKey) (jwt.SigningMethod, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, nil
		}
		return nil, fmt.Errorf("serviceaccount: ECDSA curve %s is not supported", k.Curve.Params().Name)
	}
	return nil, fmt.Errorf("serviceaccount: key type %T is not supported (want RSA or ECDSA)", pub)
}

// KeyID is the "kid" header of tokens signed by the key of pub: the
// unpadded base64url SHA-256 of its DER (PKIX) form, so verifiers can pick
// the key among several.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("serviceaccount: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
