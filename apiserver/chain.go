package apiserver

import (
	"context"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The request chain: decode -> authenticate -> authorize -> admit (mutate,
// then validate) -> store. Authentication and authorization run before any
// handler; admission runs inside the write paths, after defaults.

// UserInfo is who made a request.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Anonymous is the user of requests without credentials.
var Anonymous = &UserInfo{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}

// Authenticator identifies the user of a request. ok is false when the
// request carries no credentials it understands; an error means credentials
// were presented and are invalid (401).
type Authenticator interface {
	AuthenticateRequest(r *http.Request) (user *UserInfo, ok bool, err error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*UserInfo, bool, error)

// AuthenticateRequest calls f.
func (f AuthenticatorFunc) AuthenticateRequest(r *http.Request) (*UserInfo, bool, error) { return f(r) }

// Attributes describe a request for authorization.
type Attributes struct {
	User *UserInfo
	// Verb is get, list, watch, create, update, patch, delete,
	// deletecollection for resource requests; the lower-case HTTP method
	// otherwise.
	Verb            string
	ResourceRequest bool
	// For resource requests:
	APIGroup, APIVersion, Namespace, Resource, Subresource, Name string
	// Path is set for non-resource requests (/healthz, /api ...).
	Path string
}

// Decision is an authorizer's answer.
type Decision int

const (
	// DecisionNoOpinion lets the next authorizer decide; when none does the
	// request is denied.
	DecisionNoOpinion Decision = iota
	DecisionAllow
	DecisionDeny
)

// Authorizer decides whether a request may proceed.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, a Attributes) (Decision, string, error)

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	return f(ctx, a)
}

// Operation is what a write does, as admission sees it.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// AdmissionRequest is one write seen by admission plugins. Object is the
// object to be stored (nil for Delete) and may be changed by mutating
// plugins; OldObject is the stored one (nil for Create).
type AdmissionRequest struct {
	Operation   Operation
	Resource    schema.GroupVersionResource
	Kind        schema.GroupVersionKind
	Subresource string
	Namespace   string
	Name        string
	Object      runtime.Object
	OldObject   runtime.Object
	User        *UserInfo
	DryRun      bool
}

// MutatingAdmission may change a request's object before validation.
type MutatingAdmission interface {
	Admit(ctx context.Context, req *AdmissionRequest) error
}

// ValidatingAdmission may reject a request after validation; it must not
// change the object.
type ValidatingAdmission interface {
	Validate(ctx context.Context, req *AdmissionRequest) error
}

type userKey struct{}

// UserFrom returns the authenticated user of a request context.
func UserFrom(ctx context.Context) *UserInfo {
	if u, ok := ctx.Value(userKey{}).(*UserInfo); ok {
		return u
	}
	return Anonymous
}

// WithUser returns ctx carrying user (for in-process callers and tests).
func WithUser(ctx context.Context, user *UserInfo) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// authenticate runs the authenticator, then impersonation (see
// impersonation.go); requests without credentials are anonymous.
func (s *Server) authenticate(r *http.Request) (*http.Request, error) {
	if s.opts.Authenticator == nil {
		return r, nil
	}
	user, ok, err := s.opts.Authenticator.AuthenticateRequest(r)
	if err != nil {
		return r, apierrors.NewUnauthorized(err.Error())
	}
	if !ok {
		user = Anonymous
	}
	as, err := s.impersonation(r.Context(), user, r.Header)
	if err != nil {
		return r, err
	}
	if as != nil {
		s.log.DebugContext(r.Context(), "impersonation", "user", user.Name, "as", as.Name)
		user = as
	}
	return r.WithContext(WithUser(r.Context(), user)), nil
}

// authorize asks the authorizer about a request; no authorizer allows all.
func (s *Server) authorize(ctx context.Context, a Attributes, gr schema.GroupResource) error {
	if s.opts.Authorizer == nil {
		return nil
	}
	d, reason, err := s.opts.Authorizer.Authorize(ctx, a)
	if d == DecisionAllow {
		return nil
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q", a.User.Name, a.Verb, a.Resource)
	if a.Subresource != "" {
		msg = fmt.Sprintf("User %q cannot %s resource \"%s/%s\"", a.User.Name, a.Verb, a.Resource, a.Subresource)
	}
	msg += fmt.Sprintf(" in API group %q", a.APIGroup)
	if a.Namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", a.Namespace)
	}
	if !a.ResourceRequest {
		msg = fmt.Sprintf("User %q cannot %s path %q", a.User.Name, a.Verb, a.Path)
	}
	if reason != "" {
		msg += ": " + reason
	}
	if err != nil {
		msg += fmt.Sprintf(" (%v)", err)
	}
	return apierrors.NewForbidden(gr, a.Name, fmt.Errorf("%s", msg))
}

// admit runs the mutating plugins, then validate the validating ones.
func (s *Server) admitMutate(ctx context.Context, req *AdmissionRequest) error {
	for _, p := range s.opts.Admission {
		if m, ok := p.(MutatingAdmission); ok {
			if err := m.Admit(ctx, req); err != nil {
				return admissionError(req, err)
			}
		}
	}
	return nil
}

func (s *Server) admitValidate(ctx context.Context, req *AdmissionRequest) error {
	for _, p := range s.opts.Admission {
		if v, ok := p.(ValidatingAdmission); ok {
			if err := v.Validate(ctx, req); err != nil {
				return admissionError(req, err)
			}
		}
	}
	return nil
}

// admissionError keeps API errors of plugins and makes others a 403.
func admissionError(req *AdmissionRequest, err error) error {
	if _, ok := err.(apierrors.APIStatus); ok {
		return err
	}
	return apierrors.NewForbidden(req.Resource.GroupResource(), req.Name, err)
}

func (s *Server) admissionRequest(ctx context.Context, op Operation, res *Resource, subresource, namespace, name string, obj, old runtime.Object, dryRun bool) *AdmissionRequest {
	return &AdmissionRequest{
		Operation: op, Resource: res.GroupVersionResource(), Kind: res.GroupVersionKind, Subresource: subresource,
		Namespace: namespace, Name: name, Object: obj, OldObject: old, User: UserFrom(ctx), DryRun: dryRun,
	}
}
