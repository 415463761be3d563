package nodeagent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
)

// Cache defaults, as the kubelet's (--authentication-token-webhook-cache-ttl,
// --authorization-webhook-cache-authorized-ttl and -unauthorized-ttl).
const (
	DefaultTokenCacheTTL        = 2 * time.Minute
	DefaultTokenFailureCacheTTL = 10 * time.Second
	DefaultAuthorizedCacheTTL   = 5 * time.Minute
	DefaultUnauthorizedCacheTTL = 30 * time.Second
	defaultCacheSize            = 1024
	nodesResource               = "nodes"
	msgNoCredentials            = "Unauthorized: the node agent's API needs a client certificate or a bearer token"
)

// ErrInvalidToken is the error of a bearer token the API server did not
// accept.
var ErrInvalidToken = errors.New("invalid bearer token")

// TokenReviewOptions configure NewTokenReviewAuthenticator.
type TokenReviewOptions struct {
	// Client creates TokenReviews (authentication.k8s.io/v1) on the API
	// server: the node's own client, which is allowed to. Required.
	Client kubernetes.Interface
	// TTL is how long an accepted token's user is remembered
	// (DefaultTokenCacheTTL); FailureTTL how long a refused token is
	// (DefaultTokenFailureCacheTTL). Errors reaching the API server are
	// not remembered.
	TTL, FailureTTL time.Duration
	// CacheSize bounds the number of remembered tokens (1024).
	CacheSize int
	// Clock reads the time for the cache; nil means the real clock.
	Clock clock.PassiveClock
}

// TokenReviewAuthenticator authenticates requests by their bearer token,
// asking the API server with a TokenReview (the kubelet's
// --authentication-token-webhook) and remembering the answer for a while.
// Only a digest of each token is kept. It is safe for concurrent use.
type TokenReviewAuthenticator struct {
	client     kubernetes.Interface
	ttl        time.Duration
	failureTTL time.Duration
	cache      *utilcache.LRUExpireCache
}

var _ apiserver.Authenticator = (*TokenReviewAuthenticator)(nil)

// NewTokenReviewAuthenticator validates opts and returns an authenticator.
func NewTokenReviewAuthenticator(opts TokenReviewOptions) (*TokenReviewAuthenticator, error) {
	if opts.Client == nil {
		return nil, errors.New("nodeagent: TokenReviewOptions.Client is required")
	}
	if opts.TTL < 0 || opts.FailureTTL < 0 || opts.CacheSize < 0 {
		return nil, errors.New("nodeagent: negative token cache TTL or size")
	}
	setDefault(&opts.TTL, DefaultTokenCacheTTL)
	setDefault(&opts.FailureTTL, DefaultTokenFailureCacheTTL)
	if opts.CacheSize == 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &TokenReviewAuthenticator{
		client: opts.Client, ttl: opts.TTL, failureTTL: opts.FailureTTL,
		cache: utilcache.NewLRUExpireCacheWithClock(opts.CacheSize, opts.Clock),
	}, nil
}

// tokenAnswer is a remembered TokenReview answer: a user, or nil for a
// refused token.
type tokenAnswer struct{ user *apiserver.UserInfo }

// AuthenticateRequest implements apiserver.Authenticator. A request without
// a bearer token is not its business (ok is false); a token the API server
// refuses is ErrInvalidToken; a failed review is an error saying so
// (without the token).
func (a *TokenReviewAuthenticator) AuthenticateRequest(r *http.Request) (*apiserver.UserInfo, bool, error) {
	token, ok := authn.BearerToken(r)
	if !ok {
		return nil, false, nil
	}
	key := sha256.Sum256([]byte(token))
	if v, ok := a.cache.Get(key); ok {
		return answer(v.(tokenAnswer))
	}
	review, err := a.client.AuthenticationV1().TokenReviews().Create(r.Context(),
		&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("reviewing the bearer token with the API server: %w", err)
	}
	var ans tokenAnswer
	ttl := a.failureTTL
	if st := review.Status; st.Authenticated && st.User.Username != "" {
		u := &apiserver.UserInfo{Name: st.User.Username, UID: st.User.UID, Groups: st.User.Groups}
		for k, v := range st.User.Extra {
			if u.Extra == nil {
				u.Extra = map[string][]string{}
			}
			u.Extra[k] = v
		}
		ans, ttl = tokenAnswer{user: u}, a.ttl
	}
	a.cache.Add(key, ans, ttl)
	return answer(ans)
}

func answer(ans tokenAnswer) (*apiserver.UserInfo, bool, error) {
	if ans.user == nil {
		return nil, false, ErrInvalidToken
	}
	u := *ans.user
	u.Groups = append([]string(nil), ans.user.Groups...)
	return &u, true, nil
}

// SubjectAccessReviewOptions configure NewSubjectAccessReviewAuthorizer.
type SubjectAccessReviewOptions struct {
	// Client creates SubjectAccessReviews (authorization.k8s.io/v1) on the
	// API server: the node's own client, which is allowed to. Required.
	Client kubernetes.Interface
	// AllowTTL is how long an allowed request is remembered
	// (DefaultAuthorizedCacheTTL), DenyTTL a denied one
	// (DefaultUnauthorizedCacheTTL). Errors are not remembered.
	AllowTTL, DenyTTL time.Duration
	// CacheSize bounds the number of remembered answers (1024).
	CacheSize int
	// Clock reads the time for the cache; nil means the real clock.
	Clock clock.PassiveClock
}

// SubjectAccessReviewAuthorizer authorizes requests by asking the API
// server with a SubjectAccessReview (the kubelet's
// --authorization-mode=Webhook), remembering answers for a while. It is
// safe for concurrent use.
type SubjectAccessReviewAuthorizer struct {
	client            kubernetes.Interface
	allowTTL, denyTTL time.Duration
	cache             *utilcache.LRUExpireCache
}

var _ apiserver.Authorizer = (*SubjectAccessReviewAuthorizer)(nil)

// NewSubjectAccessReviewAuthorizer validates opts and returns an
// authorizer.
func NewSubjectAccessReviewAuthorizer(opts SubjectAccessReviewOptions) (*SubjectAccessReviewAuthorizer, error) {
	if opts.Client == nil {
		return nil, errors.New("nodeagent: SubjectAccessReviewOptions.Client is required")
	}
	if opts.AllowTTL < 0 || opts.DenyTTL < 0 || opts.CacheSize < 0 {
		return nil, errors.New("nodeagent: negative authorization cache TTL or size")
	}
	setDefault(&opts.AllowTTL, DefaultAuthorizedCacheTTL)
	setDefault(&opts.DenyTTL, DefaultUnauthorizedCacheTTL)
	if opts.CacheSize == 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &SubjectAccessReviewAuthorizer{
		client: opts.Client, allowTTL: opts.AllowTTL, denyTTL: opts.DenyTTL,
		cache: utilcache.NewLRUExpireCacheWithClock(opts.CacheSize, opts.Clock),
	}, nil
}

// sarAnswer is a remembered SubjectAccessReview answer.
type sarAnswer struct {
	decision apiserver.Decision
	reason   string
}

// Authorize implements apiserver.Authorizer: allowed when the API server
// allows, denied when it denies, no opinion otherwise (which the node agent
// treats as denied); the reason is the API server's.
func (z *SubjectAccessReviewAuthorizer) Authorize(ctx context.Context, a apiserver.Attributes) (apiserver.Decision, string, error) {
	if a.User == nil {
		return apiserver.DecisionNoOpinion, "no user", nil
	}
	spec := authorizationv1.SubjectAccessReviewSpec{User: a.User.Name, UID: a.User.UID, Groups: a.User.Groups}
	for k, v := range a.User.Extra {
		if spec.Extra == nil {
			spec.Extra = map[string]authorizationv1.ExtraValue{}
		}
		spec.Extra[k] = v
	}
	if a.ResourceRequest {
		spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.APIGroup, Version: a.APIVersion,
			Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
		}
	} else {
		spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.Path, Verb: a.Verb}
	}
	keyJSON, err := json.Marshal(spec)
	if err != nil {
		return apiserver.DecisionNoOpinion, "", fmt.Errorf("subject access review: %w", err)
	}
	key := string(keyJSON)
	if v, ok := z.cache.Get(key); ok {
		ans := v.(sarAnswer)
		return ans.decision, ans.reason, nil
	}
	review, err := z.client.AuthorizationV1().SubjectAccessReviews().Create(ctx,
		&authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return apiserver.DecisionNoOpinion, "", fmt.Errorf("asking the API server for a subject access review: %w", err)
	}
	st := review.Status
	ans := sarAnswer{decision: apiserver.DecisionNoOpinion, reason: st.Reason}
	ttl := z.denyTTL
	switch {
	case st.Allowed:
		ans.decision, ttl = apiserver.DecisionAllow, z.allowTTL
	case st.Denied:
		ans.decision = apiserver.DecisionDeny
	}
	if st.EvaluationError != "" {
		if ans.reason != "" {
			ans.reason += "; "
		}
		ans.reason += st.EvaluationError
	}
	z.cache.Add(key, ans, ttl)
	return ans.decision, ans.reason, nil
}

// RequestAttributes are the authorization attributes of a request to the
// node agent API of node nodeName by user, as the kubelet maps them: the
// verb from the method (GET and HEAD get, POST create, PUT update, PATCH
// patch, DELETE delete), resource nodes named nodeName, and the subresource
// from the first path segment: metrics, stats, logs (log) and spec keep
// theirs, everything else (pods, containerLogs, exec, attach, run,
// portForward...) is proxy.
func RequestAttributes(nodeName string, user *apiserver.UserInfo, r *http.Request) apiserver.Attributes {
	verb := strings.ToLower(r.Method)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		verb = "get"
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	sub := "proxy"
	switch first {
	case "metrics", "stats", "spec":
		sub = first
	case "logs":
		sub = "log"
	}
	return apiserver.Attributes{
		User: user, Verb: verb, ResourceRequest: true,
		APIVersion: "v1", Resource: nodesResource, Subresource: sub, Name: nodeName,
	}
}

// withAuth wraps h so that every request but those to openPaths is
// authenticated (a request without credentials, or with credentials that do
// not verify, gets 401) and then authorized as RequestAttributes says (403
// with the authorizer's reason unless it allows).
func (a *Agent) withAuth(h http.Handler, openPaths ...string) http.Handler {
	authn, authz := a.opts.Authenticator, a.opts.Authorizer
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range openPaths {
			if r.URL.Path == p {
				h.ServeHTTP(w, r)
				return
			}
		}
		user, ok, err := authn.AuthenticateRequest(r)
		switch {
		case err != nil:
			a.log.InfoContext(r.Context(), "node agent API: authentication failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			writeStatus(w, apierrors.NewUnauthorized("Unauthorized: "+err.Error()))
			return
		case !ok || user == nil:
			writeStatus(w, apierrors.NewUnauthorized(msgNoCredentials))
			return
		}
		attrs := RequestAttributes(a.opts.NodeName, user, r)
		d, reason, err := authz.Authorize(r.Context(), attrs)
		if err != nil {
			a.log.WarnContext(r.Context(), "node agent API: authorization failed", "user", user.Name, "path", r.URL.Path, "err", err)
			writeStatus(w, apierrors.NewInternalError(fmt.Errorf("authorization of user %q: %w", user.Name, err)))
			return
		}
		if d != apiserver.DecisionAllow {
			msg := fmt.Sprintf("User %q cannot %s resource \"nodes/%s\" in API group \"\"", user.Name, attrs.Verb, attrs.Subresource)
			if reason != "" {
				msg += ": " + reason
			}
			writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Resource: nodesResource}, attrs.Name, errors.New(msg)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeStatus writes err's Kubernetes Status as JSON, with its code.
func writeStatus(w http.ResponseWriter, err apierrors.APIStatus) {
	st := err.Status()
	st.APIVersion, st.Kind = "v1", "Status"
	body, jerr := json.Marshal(st)
	if jerr != nil { // a Status always marshals
		http.Error(w, st.Message, int(st.Code))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(append(body, '\n'))
}
