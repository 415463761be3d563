package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/gantryhq/gantry/apiserver"
)

// RuleAllows reports whether rule allows the request a: for a resource
// request, its verb, API group, resource (with subresource) and name must
// each be matched; for a non-resource request, its verb and path.
func RuleAllows(rule *rbacv1.PolicyRule, a apiserver.Attributes) bool {
	if !VerbMatches(rule, a.Verb) {
		return false
	}
	if !a.ResourceRequest {
		return NonResourceURLMatches(rule, a.Path)
	}
	return APIGroupMatches(rule, a.APIGroup) &&
		ResourceMatches(rule, a.Resource, a.Subresource) &&
		ResourceNameMatches(rule, a.Name)
}

// VerbMatches: one of the rule's verbs is verb or "*".
func VerbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	return matchesOrStar(rule.Verbs, verb)
}

// APIGroupMatches: one of the rule's API groups is group or "*" ("" is
// the core group).
func APIGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	return matchesOrStar(rule.APIGroups, group)
}

// ResourceMatches: one of the rule's resources is "*", the resource
// itself ("pods"), resource/subresource ("pods/log") when a subresource is
// asked for, or "*/subresource" ("*/scale"). A rule naming "pods" does not
// cover "pods/log".
func ResourceMatches(rule *rbacv1.PolicyRule, resource, subresource string) bool {
	want := resource
	if subresource != "" {
		want = resource + "/" + subresource
	}
	for _, r := range rule.Resources {
		switch {
		case r == rbacv1.ResourceAll, r == want:
			return true
		case subresource != "" && r == "*/"+subresource:
			return true
		}
	}
	return false
}

// ResourceNameMatches: the rule names no resources, or name is one of them
// (so a rule with resourceNames never allows list, watch or create without
// a name).
func ResourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	return name != "" && slices.Contains(rule.ResourceNames, name)
}

// NonResourceURLMatches: one of the rule's non-resource URLs is "*", the
// path itself, or ends in "*" and is a prefix of the path ("/healthz/*"
// matches "/healthz/etcd"; "/api*" matches "/apis").
func NonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		switch {
		case u == rbacv1.NonResourceAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimSuffix(u, "*")):
			return true
		}
	}
	return false
}

func matchesOrStar(list []string, v string) bool {
	for _, x := range list {
		if x == "*" || x == v {
			return true
		}
	}
	return false
}

// Service account users and groups, as service-account tokens authenticate
// them.
const (
	ServiceAccountUserPrefix  = "system:serviceaccount:"
	ServiceAccountsGroup      = "system:serviceaccounts"
	ServiceAccountGroupPrefix = "system:serviceaccounts:"
	AuthenticatedGroup        = "system:authenticated"
	UnauthenticatedGroup      = "system:unauthenticated"
)

// ServiceAccountUser returns the user a service account authenticates as:
// system:serviceaccount:<namespace>:<name> in the groups
// system:serviceaccounts, system:serviceaccounts:<namespace> and
// system:authenticated.
func ServiceAccountUser(namespace, name string) *apiserver.UserInfo {
	return &apiserver.UserInfo{
		Name:   ServiceAccountUserPrefix + namespace + ":" + name,
		Groups: []string{ServiceAccountsGroup, ServiceAccountGroupPrefix + namespace, AuthenticatedGroup},
	}
}

// SubjectMatches reports whether subject s names user: a User by name, a
// Group the user is in, or a ServiceAccount whose user name is
// system:serviceaccount:<namespace>:<name>, the namespace defaulting to
// bindingNamespace (the role binding's) when s has none.
func SubjectMatches(s *rbacv1.Subject, user *apiserver.UserInfo, bindingNamespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return user.Name == s.Name
	case rbacv1.GroupKind:
		return slices.Contains(user.Groups, s.Name)
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return ns != "" && user.Name == ServiceAccountUserPrefix+ns+":"+s.Name
	}
	return false
}

func anySubjectMatches(ss []rbacv1.Subject, user *apiserver.UserInfo, bindingNamespace string) bool {
	for i := range ss {
		if SubjectMatches(&ss[i], user, bindingNamespace) {
			return true
		}
	}
	return false
}
