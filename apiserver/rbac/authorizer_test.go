package rbac

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
)

func testPolicy() *StaticPolicy {
	user := func(n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: n}
	}
	return &StaticPolicy{
		ClusterRoleList: []*rbacv1.ClusterRole{
			{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "health"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/healthz/*"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}, AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"aggregate-to-monitoring": "true"}}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "node-reader", Labels: map[string]string{"aggregate-to-monitoring": "true"}}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}},
		},
		Roles: []*rbacv1.Role{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "deployer"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"create", "update"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "config-app"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "update"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}}}},
		},
		ClusterRoleBindList: []*rbacv1.ClusterRoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Name: "alice-reads-pods"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "pod-reader"}, Subjects: []rbacv1.Subject{user("alice")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "health"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "health"}, Subjects: []rbacv1.Subject{{Kind: "Group", Name: AuthenticatedGroup}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "monitoring"}, Subjects: []rbacv1.Subject{user("prometheus")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "dangling"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "gone"}, Subjects: []rbacv1.Subject{user("carol")}},
		},
		RoleBindingList: []*rbacv1.RoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "bob-deploys"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "deployer"}, Subjects: []rbacv1.Subject{user("bob")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "bob-reads-pods"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "pod-reader"}, Subjects: []rbacv1.Subject{user("bob")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app-config"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "config-app"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app"}}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "health-in-ns"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "health"}, Subjects: []rbacv1.Subject{user("dave")}},
		},
	}
}

func TestAuthorize(t *testing.T) {
	z, err := New(Options{Policy: testPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	u := func(name string, groups ...string) *apiserver.UserInfo {
		return &apiserver.UserInfo{Name: name, Groups: append(groups, AuthenticatedGroup)}
	}
	with := func(a apiserver.Attributes, user *apiserver.UserInfo) apiserver.Attributes { a.User = user; return a }
	for _, tt := range []struct {
		name   string
		a      apiserver.Attributes
		want   apiserver.Decision
		reason string // a substring of the reason
	}{
		{"cluster role binding, any namespace", with(res("list", "", "pods", "", "kube-system", ""), u("alice")), apiserver.DecisionAllow, `ClusterRoleBinding "alice-reads-pods"`},
		{"cluster role binding, cluster-wide list", with(res("list", "", "pods", "", "", ""), u("alice")), apiserver.DecisionAllow, ""},
		{"cluster role binding, other verb", with(res("delete", "", "pods", "", "default", "x"), u("alice")), apiserver.DecisionNoOpinion, `no rule of the roles bound to User "alice" allows it (ClusterRole "pod-reader", ClusterRole "health")`},
		{"role binding in its namespace", with(res("create", "apps", "deployments", "", "team-a", ""), u("bob")), apiserver.DecisionAllow, `RoleBinding "team-a/bob-deploys" of Role "team-a/deployer"`},
		{"role binding elsewhere", with(res("create", "apps", "deployments", "", "team-b", ""), u("bob")), apiserver.DecisionNoOpinion, "RBAC: no rule"},
		{"role binding to a cluster role: its namespace", with(res("get", "", "pods", "", "team-a", "web"), u("bob")), apiserver.DecisionAllow, `ClusterRole "pod-reader"`},
		{"role binding to a cluster role: not cluster-wide", with(res("list", "", "pods", "", "", ""), u("bob")), apiserver.DecisionNoOpinion, ""},
		{"no binding at all", with(res("list", "", "pods", "", "default", ""), &apiserver.UserInfo{Name: "eve"}), apiserver.DecisionNoOpinion, `RBAC: no role is bound to User "eve"`},
		{"group subject, path", with(nonRes("get", "/healthz"), u("eve")), apiserver.DecisionAllow, `ClusterRoleBinding "health"`},
		{"group subject, path prefix", with(nonRes("get", "/healthz/etcd"), u("eve")), apiserver.DecisionAllow, ""},
		{"group subject, other path", with(nonRes("get", "/metrics"), u("eve")), apiserver.DecisionNoOpinion, ""},
		{"role binding never grants paths", with(nonRes("get", "/healthz"), &apiserver.UserInfo{Name: "dave"}), apiserver.DecisionNoOpinion, ""},
		{"service account, named resource", with(res("get", "", "configmaps", "", "team-a", "app"), ServiceAccountUser("team-a", "app")), apiserver.DecisionAllow, ""},
		{"service account, other name", with(res("get", "", "configmaps", "", "team-a", "db"), ServiceAccountUser("team-a", "app")), apiserver.DecisionNoOpinion, ""},
		{"service account, list", with(res("list", "", "configmaps", "", "team-a", ""), ServiceAccountUser("team-a", "app")), apiserver.DecisionNoOpinion, ""},
		{"service account of another namespace", with(res("get", "", "configmaps", "", "team-a", "app"), ServiceAccountUser("team-b", "app")), apiserver.DecisionNoOpinion, ""},
		{"aggregated cluster role", with(res("list", "", "nodes", "", "", ""), u("prometheus")), apiserver.DecisionAllow, `ClusterRole "monitoring"`},
		{"missing role", with(res("list", "", "pods", "", "", ""), u("carol")), apiserver.DecisionNoOpinion, `bound but not found: ClusterRole "gone" (of ClusterRoleBinding "dangling")`},
		{"no user", res("list", "", "pods", "", "", ""), apiserver.DecisionNoOpinion, "no user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := z.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if d != tt.want || !strings.Contains(reason, tt.reason) {
				t.Errorf("Authorize = %v %q, want %v and a reason containing %q", d, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestRulesFor(t *testing.T) {
	z, err := New(Options{Policy: testPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	bob := &apiserver.UserInfo{Name: "bob", Groups: []string{AuthenticatedGroup}}
	rules, err := z.RulesFor(context.Background(), bob, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Resource) != 2 || len(rules.NonResource) != 1 {
		t.Errorf("RulesFor(bob, team-a) = %+v, want the deployer and pod-reader rules and the health path", rules)
	}
	rules, _ = z.RulesFor(context.Background(), bob, "team-b")
	if len(rules.Resource) != 0 {
		t.Errorf("RulesFor(bob, team-b) = %+v, want no resource rules", rules)
	}
	if _, err := z.RulesFor(context.Background(), &apiserver.UserInfo{Name: "carol"}, ""); err == nil {
		t.Error("RulesFor(carol) with a dangling binding: no error")
	}
}

func TestUnion(t *testing.T) {
	z, _ := New(Options{Policy: testPolicy()})
	u := apiserver.Union{apiserver.PrivilegedGroups(apiserver.MastersGroup), z}
	admin := &apiserver.UserInfo{Name: "admin", Groups: []string{apiserver.MastersGroup}}
	if d, _, _ := u.Authorize(context.Background(), apiserver.Attributes{User: admin, Verb: "delete", ResourceRequest: true, Resource: "nodes", Name: "n1"}); d != apiserver.DecisionAllow {
		t.Errorf("system:masters: %v, want allow", d)
	}
	if d, reason, _ := u.Authorize(context.Background(), apiserver.Attributes{User: &apiserver.UserInfo{Name: "eve"}, Verb: "delete", ResourceRequest: true, Resource: "nodes", Name: "n1"}); d != apiserver.DecisionNoOpinion || !strings.Contains(reason, "RBAC") {
		t.Errorf("eve: %v %q, want no opinion with RBAC's reason", d, reason)
	}
}
