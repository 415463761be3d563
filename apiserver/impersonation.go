package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Impersonation: a user may act as another (kubectl --as, --as-group,
// --as-uid) when the authorizer lets it "impersonate" each part of the
// other identity:
//
//	Impersonate-User: name           users/<name>, or serviceaccounts/<name> in
//	                                 its namespace for system:serviceaccount:<ns>:<name>
//	Impersonate-Group: group         groups/<group> (once per group)
//	Impersonate-Uid: uid             authentication.k8s.io uids/<uid>
//	Impersonate-Extra-<key>: value   authentication.k8s.io userextras/<key>, name <value>
//
// The request then proceeds, authorized and admitted, as the impersonated
// user. Groups, UID or extras without a user are a bad request.

const (
	impersonateUserHeader       = "Impersonate-User"
	impersonateGroupHeader      = "Impersonate-Group"
	impersonateUIDHeader        = "Impersonate-Uid"
	impersonateExtraHeaderStart = "Impersonate-Extra-"
)

const serviceAccountUserPrefix = "system:serviceaccount:"

// impersonation returns the user a request impersonates, or nil when it
// impersonates nobody; errors are 400 for malformed headers and 403 when
// user may not impersonate a part.
func (s *Server) impersonation(ctx context.Context, user *UserInfo, h http.Header) (*UserInfo, error) {
	name := h.Get(impersonateUserHeader)
	groups := h.Values(impersonateGroupHeader)
	uid := h.Get(impersonateUIDHeader)
	extra := map[string][]string{}
	for k, vs := range h {
		if rest, ok := strings.CutPrefix(k, impersonateExtraHeaderStart); ok && rest != "" {
			key, err := url.PathUnescape(strings.ToLower(rest))
			if err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("malformed impersonation header %s: %v", k, err))
			}
			extra[key] = append(extra[key], vs...)
		}
	}
	if name == "" {
		if len(groups) > 0 || uid != "" || len(extra) > 0 {
			return nil, apierrors.NewBadRequest("impersonating groups, a UID or extra fields requires impersonating a user (Impersonate-User)")
		}
		if _, present := h[impersonateUserHeader]; present {
			return nil, apierrors.NewBadRequest("Impersonate-User is empty")
		}
		return nil, nil
	}
	check := func(a Attributes, gr schema.GroupResource) error {
		a.User, a.Verb, a.ResourceRequest = user, "impersonate", true
		return s.authorize(ctx, a, gr)
	}
	out := &UserInfo{Name: name, UID: uid}
	if ns, sa, ok := serviceAccountName(name); ok {
		if err := check(Attributes{Resource: "serviceaccounts", Namespace: ns, Name: sa}, schema.GroupResource{Resource: "serviceaccounts"}); err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			out.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
		}
	} else if err := check(Attributes{Resource: "users", Name: name}, schema.GroupResource{Resource: "users"}); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := check(Attributes{Resource: "groups", Name: g}, schema.GroupResource{Resource: "groups"}); err != nil {
			return nil, err
		}
		out.Groups = append(out.Groups, g)
	}
	if uid != "" {
		if err := check(Attributes{APIGroup: authenticationv1.GroupName, Resource: "uids", Name: uid}, schema.GroupResource{Group: authenticationv1.GroupName, Resource: "uids"}); err != nil {
			return nil, err
		}
	}
	for key, values := range extra {
		for _, v := range values {
			if err := check(Attributes{APIGroup: authenticationv1.GroupName, Resource: "userextras", Subresource: key, Name: v}, schema.GroupResource{Group: authenticationv1.GroupName, Resource: "userextras"}); err != nil {
				return nil, err
			}
		}
		if out.Extra == nil {
			out.Extra = map[string][]string{}
		}
		out.Extra[key] = values
	}
	// Every user but the anonymous one is authenticated.
	switch {
	case name == Anonymous.Name:
		if !slices.Contains(out.Groups, "system:unauthenticated") {
			out.Groups = append(out.Groups, "system:unauthenticated")
		}
	case !slices.Contains(out.Groups, "system:authenticated"):
		out.Groups = append(out.Groups, "system:authenticated")
	}
	return out, nil
}

// serviceAccountName splits system:serviceaccount:<namespace>:<name>.
func serviceAccountName(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountUserPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != "" && !strings.Contains(name, ":")
}
