package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/gantryhq/gantry/apiserver"
)

func res(verb, group, resource, sub, ns, name string) apiserver.Attributes {
	return apiserver.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func nonRes(verb, path string) apiserver.Attributes {
	return apiserver.Attributes{Verb: verb, Path: path}
}

func TestRuleAllows(t *testing.T) {
	podsRead := rbacv1.PolicyRule{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	for _, tt := range []struct {
		name string
		rule rbacv1.PolicyRule
		a    apiserver.Attributes
		want bool
	}{
		{"verb and resource", podsRead, res("list", "", "pods", "", "default", ""), true},
		{"other verb", podsRead, res("delete", "", "pods", "", "default", "web"), false},
		{"other resource", podsRead, res("list", "", "services", "", "default", ""), false},
		{"other group", podsRead, res("list", "apps", "pods", "", "default", ""), false},
		{"resource does not cover subresource", podsRead, res("get", "", "pods", "log", "default", "web"), false},
		{"subresource form", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}}, res("get", "", "pods", "log", "default", "web"), true},
		{"subresource form is not the resource", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}}, res("get", "", "pods", "", "default", "web"), false},
		{"star subresource", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"apps"}, Resources: []string{"*/scale"}}, res("update", "apps", "deployments", "scale", "default", "web"), true},
		{"star subresource not the resource", rbacv1.PolicyRule{Verbs: []string{"update"}, APIGroups: []string{"apps"}, Resources: []string{"*/scale"}}, res("update", "apps", "deployments", "", "default", "web"), false},
		{"star resource covers subresources", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"*"}}, res("get", "", "pods", "log", "default", "web"), true},
		{"star verb and group", rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"deployments"}}, res("patch", "apps", "deployments", "", "default", "web"), true},
		{"resource name", rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}}, res("get", "", "configmaps", "", "default", "app"), true},
		{"other resource name", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}}, res("get", "", "configmaps", "", "default", "db"), false},
		{"resource names never allow list", rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}}, res("list", "", "configmaps", "", "default", ""), false},
		{"resource rule does not allow a path", podsRead, nonRes("get", "/healthz"), false},
		{"url", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, nonRes("get", "/healthz"), true},
		{"url exact only", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, nonRes("get", "/healthz/etcd"), false},
		{"url prefix", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz/*"}}, nonRes("get", "/healthz/etcd"), true},
		{"url prefix without slash", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/api*"}}, nonRes("get", "/apis/apps"), true},
		{"url prefix other", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz/*"}}, nonRes("get", "/metrics"), false},
		{"url star", rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}, nonRes("post", "/anything"), true},
		{"url verb", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"*"}}, nonRes("post", "/anything"), false},
		{"url rule does not allow resources", rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}, res("get", "", "pods", "", "", ""), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleAllows(&tt.rule, tt.a); got != tt.want {
				t.Errorf("RuleAllows(%+v, %+v) = %v, want %v", tt.rule, tt.a, got, tt.want)
			}
		})
	}
}

func TestSubjectMatches(t *testing.T) {
	bob := &apiserver.UserInfo{Name: "bob", Groups: []string{"dev", AuthenticatedGroup}}
	sa := ServiceAccountUser("team-a", "builder")
	for _, tt := range []struct {
		name    string
		subject rbacv1.Subject
		user    *apiserver.UserInfo
		ns      string
		want    bool
	}{
		{"user", rbacv1.Subject{Kind: "User", Name: "bob"}, bob, "", true},
		{"other user", rbacv1.Subject{Kind: "User", Name: "alice"}, bob, "", false},
		{"group", rbacv1.Subject{Kind: "Group", Name: "dev"}, bob, "", true},
		{"user name is not a group", rbacv1.Subject{Kind: "Group", Name: "bob"}, bob, "", false},
		{"service account", rbacv1.Subject{Kind: "ServiceAccount", Name: "builder", Namespace: "team-a"}, sa, "", true},
		{"service account in the binding's namespace", rbacv1.Subject{Kind: "ServiceAccount", Name: "builder"}, sa, "team-a", true},
		{"service account of another namespace", rbacv1.Subject{Kind: "ServiceAccount", Name: "builder", Namespace: "team-b"}, sa, "", false},
		{"service account without namespace in a cluster binding", rbacv1.Subject{Kind: "ServiceAccount", Name: "builder"}, sa, "", false},
		{"all service accounts", rbacv1.Subject{Kind: "Group", Name: ServiceAccountsGroup}, sa, "", true},
		{"service accounts of a namespace", rbacv1.Subject{Kind: "Group", Name: "system:serviceaccounts:team-a"}, sa, "", true},
		{"service accounts of another namespace", rbacv1.Subject{Kind: "Group", Name: "system:serviceaccounts:team-b"}, sa, "", false},
		{"user named like a service account is not one by kind", rbacv1.Subject{Kind: "User", Name: "builder"}, sa, "", false},
		{"unknown kind", rbacv1.Subject{Kind: "Robot", Name: "bob"}, bob, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := SubjectMatches(&tt.subject, tt.user, tt.ns); got != tt.want {
				t.Errorf("SubjectMatches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	have := []rbacv1.PolicyRule{
		{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}},
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"a"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/api/*"}},
	}
	for _, tt := range []struct {
		name string
		rule rbacv1.PolicyRule
		want bool
	}{
		{"subset", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}, true},
		{"subresource", rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods/log"}}, true},
		{"more verbs", rbacv1.PolicyRule{Verbs: []string{"get", "delete"}, APIGroups: []string{""}, Resources: []string{"pods"}}, false},
		{"star is covered by star only", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"*"}}, false},
		{"named", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"a"}}, true},
		{"names do not cover all", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}, false},
		{"url", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, true},
		{"url prefix by prefix", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/api/*"}}, true},
		{"url under prefix", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/api/v1"}}, true},
		{"url other", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Covers(have, tt.rule); got != tt.want {
				t.Errorf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}
