package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Service account tokens: the TokenRequest API (POST
// serviceaccounts/<name>/token) mints short-lived, audience-bound tokens
// through Options.TokenIssuer; TokenReview (authentication.k8s.io/v1) lets
// other components (node agents) ask this server's authenticator about a
// bearer token.

// DefaultTokenExpiration is the lifetime of a TokenRequest token that asks
// for none.
const DefaultTokenExpiration = time.Hour

// minTokenExpiration is the shortest lifetime a TokenRequest may ask for.
const minTokenExpiration = 10 * time.Minute

// ServiceAccountToken is what a TokenRequest asks a TokenIssuer to sign.
type ServiceAccountToken struct {
	ServiceAccount *corev1.ServiceAccount
	// Audiences are the token's audiences; never empty.
	Audiences []string
	// Expiration is the token's lifetime from now.
	Expiration time.Duration
	// Pod or Secret, when set, bind the token to that object; Node is the
	// bound pod's node, or the bound node.
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
}

// TokenIssuer signs service account tokens (serviceaccount.Issuer).
type TokenIssuer interface {
	IssueToken(ctx context.Context, t *ServiceAccountToken) (token string, expires time.Time, err error)
}

type audiencesKey struct{}

// WithAudiences returns ctx asking authenticators to accept tokens for
// these audiences instead of the API server's own (TokenReview with
// spec.audiences).
func WithAudiences(ctx context.Context, audiences []string) context.Context {
	return context.WithValue(ctx, audiencesKey{}, audiences)
}

// AudiencesFrom returns the audiences of WithAudiences, or nil: the
// authenticator's defaults.
func AudiencesFrom(ctx context.Context) []string {
	a, _ := ctx.Value(audiencesKey{}).([]string)
	return a
}

func isCoreServiceAccounts(res *Resource) bool {
	return res.GroupVersionKind == corev1.SchemeGroupVersion.WithKind("ServiceAccount")
}

// handleTokenRequest serves POST serviceaccounts/<name>/token.
func (s *Server) handleTokenRequest(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	tr := &authenticationv1.TokenRequest{}
	if err := s.decodeBody(w, r, body, tr, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if tr.Namespace != "" && tr.Namespace != info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if tr.Name != "" && tr.Name != info.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", tr.Name, info.Name))
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if errs := s.validateTokenRequest(tr); len(errs) > 0 {
		return apierrors.NewInvalid(authenticationv1.SchemeGroupVersion.WithKind("TokenRequest").GroupKind(), info.Name, errs)
	}
	obj, _, err := s.getObject(ctx, res, info.Namespace, info.Name)
	if err != nil {
		return err
	}
	sa := obj.(*corev1.ServiceAccount)
	if sa.DeletionTimestamp != nil {
		return apierrors.NewConflict(res.GroupResource(), info.Name, errors.New("the service account is being deleted"))
	}
	t := &ServiceAccountToken{
		ServiceAccount: sa,
		Audiences:      tr.Spec.Audiences,
		Expiration:     time.Duration(*tr.Spec.ExpirationSeconds) * time.Second,
	}
	if err := s.bindToken(ctx, info.Namespace, tr.Spec.BoundObjectRef, t); err != nil {
		return err
	}
	tr.Name, tr.Namespace = sa.Name, sa.Namespace
	tr.CreationTimestamp = metav1.NewTime(s.now().Truncate(time.Second))
	adm := &AdmissionRequest{
		Operation: Create, Resource: res.GroupVersionResource(), Kind: authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"),
		Subresource: "token", Namespace: info.Namespace, Name: info.Name, Object: tr, User: UserFrom(ctx), DryRun: dryRun,
	}
	if err := s.admitValidate(ctx, adm); err != nil {
		return err
	}
	if !dryRun {
		token, exp, err := s.opts.TokenIssuer.IssueToken(ctx, t)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		tr.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(exp)}
	}
	return s.writeObject(w, r, nil, http.StatusCreated, tr)
}

// validateTokenRequest checks and defaults a TokenRequest's spec.
func (s *Server) validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if tr.Spec.ExpirationSeconds == nil {
		d := int64(DefaultTokenExpiration / time.Second)
		tr.Spec.ExpirationSeconds = &d
	}
	exp := *tr.Spec.ExpirationSeconds
	switch {
	case exp < int64(minTokenExpiration/time.Second):
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
	case exp > math.MaxUint32:
		errs = append(errs, field.TooLong(spec.Child("expirationSeconds"), exp, math.MaxUint32))
	case s.opts.MaxTokenExpiration > 0 && time.Duration(exp)*time.Second > s.opts.MaxTokenExpiration:
		// Longer requests are shortened, as kube-apiserver does.
		d := int64(s.opts.MaxTokenExpiration / time.Second)
		tr.Spec.ExpirationSeconds = &d
	}
	if len(tr.Spec.Audiences) == 0 {
		tr.Spec.Audiences = s.opts.APIAudiences
	}
	for i, a := range tr.Spec.Audiences {
		if a == "" {
			errs = append(errs, field.Invalid(spec.Child("audiences").Index(i), a, "may not be empty"))
		}
	}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		p := spec.Child("boundObjectRef")
		if ref.APIVersion != "" && ref.APIVersion != "v1" {
			errs = append(errs, field.NotSupported(p.Child("apiVersion"), ref.APIVersion, []string{"v1"}))
		}
		if ref.Kind != "Pod" && ref.Kind != "Secret" && ref.Kind != "Node" {
			errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, []string{"Pod", "Secret", "Node"}))
		}
		if ref.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
	}
	return errs
}

// bindToken looks up the object a token is bound to: it must exist, with
// the UID the request names (if any), and not be being deleted.
func (s *Server) bindToken(ctx context.Context, namespace string, ref *authenticationv1.BoundObjectReference, t *ServiceAccountToken) error {
	if ref == nil {
		return nil
	}
	lookup := func(resource, ns, name string, uid types.UID) (runtime.Object, error) {
		res := s.resources[corev1.SchemeGroupVersion.WithResource(resource)]
		if res == nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("tokens cannot be bound to %s: the resource is not served", resource))
		}
		obj, _, err := s.getObject(ctx, res, ns, name)
		if err != nil {
			return nil, err
		}
		m := mustAccessor(obj)
		if uid != "" && m.GetUID() != uid {
			return nil, apierrors.NewConflict(res.GroupResource(), name, fmt.Errorf("the UID in the bound object reference (%s) does not match the object's (%s)", uid, m.GetUID()))
		}
		if m.GetDeletionTimestamp() != nil {
			return nil, apierrors.NewConflict(res.GroupResource(), name, errors.New("the bound object is being deleted"))
		}
		return obj, nil
	}
	switch ref.Kind {
	case "Pod":
		obj, err := lookup("pods", namespace, ref.Name, ref.UID)
		if err != nil {
			return err
		}
		t.Pod = obj.(*corev1.Pod)
		if node := t.Pod.Spec.NodeName; node != "" {
			// The node is recorded for auditing; a missing one is not an
			// error (the pod is what the token lives with).
			t.Node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
			if obj, err := lookup("nodes", "", node, ""); err == nil {
				t.Node = obj.(*corev1.Node)
			}
		}
	case "Secret":
		obj, err := lookup("secrets", namespace, ref.Name, ref.UID)
		if err != nil {
			return err
		}
		t.Secret = obj.(*corev1.Secret)
	case "Node":
		obj, err := lookup("nodes", "", ref.Name, ref.UID)
		if err != nil {
			return err
		}
		t.Node = obj.(*corev1.Node)
	}
	return nil
}

// reviewToken answers a TokenReview with the server's authenticator.
func (s *Server) reviewToken(ctx context.Context, tr *authenticationv1.TokenReview) error {
	if tr.Spec.Token == "" {
		return apierrors.NewBadRequest("token is required for TokenReview in authentication")
	}
	audiences := tr.Spec.Audiences
	if len(audiences) == 0 {
		audiences = s.opts.APIAudiences
	}
	req, err := http.NewRequestWithContext(WithAudiences(ctx, audiences), http.MethodGet, "/", nil)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	req.Header.Set("Authorization", "Bearer "+tr.Spec.Token)
	tr.Spec.Token = "" // never echoed
	tr.Status = authenticationv1.TokenReviewStatus{}
	if s.opts.Authenticator == nil {
		tr.Status.Error = "this server does not authenticate tokens"
		return nil
	}
	u, ok, err := s.opts.Authenticator.AuthenticateRequest(req)
	switch {
	case err != nil:
		tr.Status.Error = err.Error()
		return nil
	case !ok:
		return nil
	}
	tr.Status.Authenticated = true
	tr.Status.Audiences = audiences
	tr.Status.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	for k, v := range u.Extra {
		if tr.Status.User.Extra == nil {
			tr.Status.User.Extra = map[string]authenticationv1.ExtraValue{}
		}
		tr.Status.User.Extra[k] = v
	}
	return nil
}
