package rbac

import (
	"context"
	"fmt"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
)

// benchPolicy is the bootstrap policy plus 200 users, each bound to view
// cluster-wide and to edit in one of 100 namespaces (20 bindings per
// namespace with 10 subjects each).
func benchPolicy() *StaticPolicy {
	b := BootstrapPolicy()
	p := &StaticPolicy{}
	for i := range b.ClusterRoles {
		p.ClusterRoleList = append(p.ClusterRoleList, &b.ClusterRoles[i])
	}
	for i := range b.ClusterRoleBindings {
		p.ClusterRoleBindList = append(p.ClusterRoleBindList, &b.ClusterRoleBindings[i])
	}
	for u := range 200 {
		user := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("user-%d", u)}
		p.ClusterRoleBindList = append(p.ClusterRoleBindList, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "view-" + user.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{user},
		})
	}
	for ns := range 100 {
		for b := range 20 {
			rb := &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", ns), Name: fmt.Sprintf("edit-%d", b)},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			}
			for s := range 10 {
				rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("user-%d", (ns*20+b*10+s)%200)})
			}
			p.RoleBindingList = append(p.RoleBindingList, rb)
		}
	}
	return p
}

func BenchmarkAuthorize(b *testing.B) {
	z, _ := New(Options{Policy: benchPolicy()})
	user := &apiserver.UserInfo{Name: "user-7", Groups: []string{AuthenticatedGroup}}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		a    apiserver.Attributes
		want apiserver.Decision
	}{
		{"allowed by a cluster role binding", apiserver.Attributes{User: user, Verb: "list", ResourceRequest: true, APIGroup: "apps", Resource: "deployments", Namespace: "ns-3"}, apiserver.DecisionAllow},
		{"allowed by a role binding", apiserver.Attributes{User: user, Verb: "delete", ResourceRequest: true, Resource: "pods", Namespace: "ns-0", Name: "p"}, apiserver.DecisionAllow},
		{"denied", apiserver.Attributes{User: user, Verb: "delete", ResourceRequest: true, Resource: "nodes", Name: "n"}, apiserver.DecisionNoOpinion},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if d, reason, _ := z.Authorize(ctx, bc.a); d != bc.want {
					b.Fatalf("%v %s", d, reason)
				}
			}
		})
	}
}
