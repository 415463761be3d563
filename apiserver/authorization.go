package apiserver

import (
	"context"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The access reviews of authorization.k8s.io/v1 are not stored: creating
// one asks the server's authorizer and returns its answer in the status.
//
//   - SelfSubjectAccessReview: may I do this? (kubectl auth can-i)
//   - SubjectAccessReview: may this user do this?
//   - LocalSubjectAccessReview: the same, limited to one namespace.
//   - SelfSubjectRulesReview: what may I do in this namespace?
//     (kubectl auth can-i --list); needs an authorizer that is a
//     RuleResolver.
//
// authentication.k8s.io/v1 SelfSubjectReview (who am I? kubectl auth
// whoami) is served the same way.
func authorizationResources() []Resource {
	gv := authorizationv1.SchemeGroupVersion
	review := func(kind, plural string, namespaced bool, newObj func() runtime.Object) Resource {
		return Resource{
			GroupVersionKind: gv.WithKind(kind), Plural: plural, Namespaced: namespaced,
			New:        newObj,
			NewList:    func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }, // never listed
			serve:      (*Server).serveReview,
			createOnly: true,
		}
	}
	return []Resource{
		review("SelfSubjectAccessReview", "selfsubjectaccessreviews", false, func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }),
		review("SubjectAccessReview", "subjectaccessreviews", false, func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }),
		review("LocalSubjectAccessReview", "localsubjectaccessreviews", true, func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }),
		review("SelfSubjectRulesReview", "selfsubjectrulesreviews", false, func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }),
		{
			// Who am I? (kubectl auth whoami)
			GroupVersionKind: authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview"), Plural: "selfsubjectreviews",
			New:        func() runtime.Object { return &authenticationv1.SelfSubjectReview{} },
			NewList:    func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }, // never listed
			serve:      (*Server).serveReview,
			createOnly: true,
		},
		{
			// Is this bearer token good, and whose is it? (node agents'
			// webhook token authentication)
			GroupVersionKind: authenticationv1.SchemeGroupVersion.WithKind("TokenReview"), Plural: "tokenreviews",
			New:        func() runtime.Object { return &authenticationv1.TokenReview{} },
			NewList:    func() runtime.Object { return &authenticationv1.TokenReview{} }, // never listed
			serve:      (*Server).serveReview,
			createOnly: true,
		},
	}
}

func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	if info.Verb != "create" || info.Name != "" {
		return apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb)
	}
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	obj := res.New()
	if err := s.decodeBody(w, r, body, obj, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	ctx := r.Context()
	switch o := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		spec := authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: o.Spec.ResourceAttributes, NonResourceAttributes: o.Spec.NonResourceAttributes}
		if errs := validateReviewSpec(&spec, false); len(errs) > 0 {
			return invalid(res, "", errs)
		}
		o.Status = s.review(ctx, UserFrom(ctx), &spec)
	case *authorizationv1.SubjectAccessReview:
		if errs := validateReviewSpec(&o.Spec, true); len(errs) > 0 {
			return invalid(res, "", errs)
		}
		o.Status = s.review(ctx, reviewUser(&o.Spec), &o.Spec)
	case *authorizationv1.LocalSubjectAccessReview:
		errs := validateReviewSpec(&o.Spec, true)
		if o.Spec.NonResourceAttributes != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), o.Spec.NonResourceAttributes, "disallowed on this kind of request"))
		}
		if ra := o.Spec.ResourceAttributes; ra != nil && ra.Namespace != info.Namespace {
			errs = append(errs, field.Invalid(field.NewPath("spec", "resourceAttributes", "namespace"), ra.Namespace, "must match the namespace of the request ("+info.Namespace+")"))
		}
		if len(errs) > 0 {
			return invalid(res, "", errs)
		}
		o.Namespace = info.Namespace
		o.Status = s.review(ctx, reviewUser(&o.Spec), &o.Spec)
	case *authorizationv1.SelfSubjectRulesReview:
		o.Status = s.rulesReview(ctx, UserFrom(ctx), o.Spec.Namespace)
	case *authenticationv1.TokenReview:
		if err := s.reviewToken(ctx, o); err != nil {
			return err
		}
	case *authenticationv1.SelfSubjectReview:
		u := UserFrom(ctx)
		o.Status.UserInfo = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
		for k, v := range u.Extra {
			if o.Status.UserInfo.Extra == nil {
				o.Status.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
			}
			o.Status.UserInfo.Extra[k] = v
		}
	}
	return s.writeObject(w, r, nil, http.StatusCreated, obj)
}

// validateReviewSpec checks that a review asks about exactly one thing and,
// for reviews of another user, names a user or a group.
func validateReviewSpec(spec *authorizationv1.SubjectAccessReviewSpec, needSubject bool) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	switch {
	case spec.ResourceAttributes == nil && spec.NonResourceAttributes == nil:
		errs = append(errs, field.Invalid(p.Child("resourceAttributes"), spec.ResourceAttributes, "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	case spec.ResourceAttributes != nil && spec.NonResourceAttributes != nil:
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), spec.NonResourceAttributes, "cannot be specified in combination with resourceAttributes"))
	}
	if needSubject && spec.User == "" && len(spec.Groups) == 0 {
		errs = append(errs, field.Invalid(p.Child("user"), spec.User, "at least one of user or group must be specified"))
	}
	return errs
}

func reviewUser(spec *authorizationv1.SubjectAccessReviewSpec) *UserInfo {
	u := &UserInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	return u
}

// review asks the authorizer about spec on behalf of user; without an
// authorizer everything is allowed.
func (s *Server) review(ctx context.Context, user *UserInfo, spec *authorizationv1.SubjectAccessReviewSpec) authorizationv1.SubjectAccessReviewStatus {
	a := Attributes{User: user}
	if ra := spec.ResourceAttributes; ra != nil {
		a.ResourceRequest = true
		a.Verb, a.APIGroup, a.APIVersion = ra.Verb, ra.Group, ra.Version
		a.Namespace, a.Resource, a.Subresource, a.Name = ra.Namespace, ra.Resource, ra.Subresource, ra.Name
	} else {
		a.Verb, a.Path = spec.NonResourceAttributes.Verb, spec.NonResourceAttributes.Path
	}
	if s.opts.Authorizer == nil {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "no authorizer: everything is allowed"}
	}
	d, reason, err := s.opts.Authorizer.Authorize(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == DecisionAllow, Denied: d == DecisionDeny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

func (s *Server) rulesReview(ctx context.Context, user *UserInfo, namespace string) authorizationv1.SubjectRulesReviewStatus {
	if s.opts.Authorizer == nil {
		return authorizationv1.SubjectRulesReviewStatus{
			ResourceRules:    []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
			NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
		}
	}
	rr, ok := s.opts.Authorizer.(RuleResolver)
	if !ok {
		return authorizationv1.SubjectRulesReviewStatus{Incomplete: true, EvaluationError: "the authorizer cannot list rules"}
	}
	rules, err := rr.RulesFor(ctx, user, namespace)
	st := authorizationv1.SubjectRulesReviewStatus{ResourceRules: rules.Resource, NonResourceRules: rules.NonResource, Incomplete: rules.Incomplete}
	if st.ResourceRules == nil {
		st.ResourceRules = []authorizationv1.ResourceRule{}
	}
	if st.NonResourceRules == nil {
		st.NonResourceRules = []authorizationv1.NonResourceRule{}
	}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}
