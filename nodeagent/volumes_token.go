package nodeagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

const (
	// defaultTokenExpiration is a projected token's lifetime when the pod
	// gives none (expirationSeconds), as in Kubernetes.
	defaultTokenExpiration = 3600
	// maxTokenAge is the age after which a token is renewed whatever its
	// lifetime, as the kubelet does.
	maxTokenAge = 24 * time.Hour
)

// tokenKey identifies the tokens one projection of one pod asks for.
type tokenKey struct {
	namespace, serviceAccount, audience string
	expirationSeconds                   int64
	podUID                              types.UID
}

// cachedToken is a token with the time it was issued.
type cachedToken struct {
	token           string
	issued, expires time.Time
}

// tokenManager requests service account tokens bound to pods (the
// TokenRequest API, serviceaccounts/token) and keeps them until they need
// renewing: after 80% of their lifetime or 24 hours, whichever comes first.
// It is safe for concurrent use.
type tokenManager struct {
	cs    kubernetes.Interface
	clock clock.PassiveClock

	mu    sync.Mutex
	cache map[tokenKey]cachedToken
}

func newTokenManager(cs kubernetes.Interface, clk clock.PassiveClock) *tokenManager {
	return &tokenManager{cs: cs, clock: clk, cache: map[tokenKey]cachedToken{}}
}

// token returns a token for the pod's service account as the projection
// asks, bound to the pod, requesting a new one when the cached one needs
// renewing. When renewing fails while the old token is still valid, the old
// one is returned (and renewal is tried again on the next call).
func (m *tokenManager) token(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	key := tokenKey{
		namespace: pod.Namespace, serviceAccount: sa, audience: p.Audience,
		expirationSeconds: ptr.Deref(p.ExpirationSeconds, defaultTokenExpiration), podUID: pod.UID,
	}
	now := m.clock.Now()
	m.mu.Lock()
	cached, ok := m.cache[key]
	m.mu.Unlock()
	if ok && !cached.needsRenewal(now) {
		return cached.token, nil
	}

	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(key.expirationSeconds),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tr, err := m.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err == nil && (tr.Status.Token == "" || tr.Status.ExpirationTimestamp.IsZero()) {
		err = fmt.Errorf("the API server returned no token or no expiration")
	}
	if err != nil {
		if ok && now.Before(cached.expires) {
			return cached.token, nil
		}
		return "", fmt.Errorf("service account %q: requesting a token: %w", sa, err)
	}
	tok := cachedToken{token: tr.Status.Token, issued: now, expires: tr.Status.ExpirationTimestamp.Time}
	// The token's own lifetime (the API server may shorten the one asked
	// for) dates its issue, as the kubelet reckons it.
	if s := tr.Spec.ExpirationSeconds; s != nil && *s > 0 {
		if iat := tok.expires.Add(-time.Duration(*s) * time.Second); iat.Before(now) {
			tok.issued = iat
		}
	}
	m.mu.Lock()
	m.cache[key] = tok
	m.mu.Unlock()
	return tok.token, nil
}

// needsRenewal says whether 80% of the token's lifetime or 24 hours have
// passed.
func (t cachedToken) needsRenewal(now time.Time) bool {
	if !now.Before(t.expires) {
		return true
	}
	life := t.expires.Sub(t.issued)
	return now.Sub(t.issued) >= min(life*8/10, maxTokenAge)
}

// forget drops the tokens of a pod.
func (m *tokenManager) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.cache {
		if k.podUID == uid {
			delete(m.cache, k)
		}
	}
}

// String hides tokens from logs and fmt.
func (t cachedToken) String() string {
	return "token(expires " + t.expires.Format(time.RFC3339) + ")"
}

var _ fmt.Stringer = cachedToken{}
