package validation

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRBACRoles(t *testing.T) {
	valid := func() *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "system:pod-reader"},
			Rules: []rbacv1.PolicyRule{
				{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}},
				{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/healthz/*"}},
			},
		}
	}
	for _, tt := range []struct {
		name   string
		change func(*rbacv1.ClusterRole)
		want   []want
	}{
		{"valid", func(*rbacv1.ClusterRole) {}, nil},
		{"name with a slash", func(r *rbacv1.ClusterRole) { r.Name = "a/b" }, []want{invalid("metadata.name")}},
		{"no verbs", func(r *rbacv1.ClusterRole) { r.Rules[0].Verbs = nil }, []want{required("rules[0].verbs")}},
		{"no api groups", func(r *rbacv1.ClusterRole) { r.Rules[0].APIGroups = nil }, []want{required("rules[0].apiGroups")}},
		{"no resources", func(r *rbacv1.ClusterRole) { r.Rules[0].Resources = nil }, []want{required("rules[0].resources")}},
		{"both kinds", func(r *rbacv1.ClusterRole) { r.Rules[1].Resources = []string{"pods"} }, []want{invalid("rules[1].nonResourceURLs")}},
		{"relative url", func(r *rbacv1.ClusterRole) { r.Rules[1].NonResourceURLs = []string{"healthz"} }, []want{invalid("rules[1].nonResourceURLs[0]")}},
		{"empty aggregation rule", func(r *rbacv1.ClusterRole) { r.AggregationRule = &rbacv1.AggregationRule{} }, []want{required("aggregationRule.clusterRoleSelectors")}},
		{"bad selector", func(r *rbacv1.ClusterRole) {
			r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a b": "c"}}}}
		}, []want{invalid("aggregationRule.clusterRoleSelectors[0].matchLabels")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.change(r)
			checkErrs(t, ClusterRole(r), tt.want...)
		})
	}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "default"}, Rules: valid().Rules}
	checkErrs(t, Role(role), invalid("rules[1].nonResourceURLs"))
	checkErrs(t, Role(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}}), required("metadata.namespace"))
}

func TestRBACBindings(t *testing.T) {
	valid := func() *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
			Subjects: []rbacv1.Subject{
				{Kind: "User", APIGroup: rbacv1.GroupName, Name: "bob"},
				{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "system:authenticated"},
				{Kind: "ServiceAccount", Name: "builder"},
			},
		}
	}
	for _, tt := range []struct {
		name   string
		change func(*rbacv1.RoleBinding)
		want   []want
	}{
		{"valid", func(*rbacv1.RoleBinding) {}, nil},
		{"cluster role", func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "ClusterRole" }, nil},
		{"no role name", func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "" }, []want{required("roleRef.name")}},
		{"other role kind", func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "Deployment" }, []want{notSupported("roleRef.kind")}},
		{"other role group", func(b *rbacv1.RoleBinding) { b.RoleRef.APIGroup = "apps" }, []want{notSupported("roleRef.apiGroup")}},
		{"no subject name", func(b *rbacv1.RoleBinding) { b.Subjects[0].Name = "" }, []want{required("subjects[0].name")}},
		{"user in the core group", func(b *rbacv1.RoleBinding) { b.Subjects[0].APIGroup = "" }, []want{notSupported("subjects[0].apiGroup")}},
		{"unknown subject kind", func(b *rbacv1.RoleBinding) { b.Subjects[0].Kind = "Robot" }, []want{notSupported("subjects[0].kind")}},
		{"service account name", func(b *rbacv1.RoleBinding) { b.Subjects[2].Name = "Builder" }, []want{invalid("subjects[2].name")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := valid()
			tt.change(b)
			checkErrs(t, RoleBinding(b), tt.want...)
		})
	}
	old := valid()
	b := valid()
	b.RoleRef.Name = "other"
	checkErrs(t, RoleBindingUpdate(b, old), invalid("roleRef"))
	b = valid()
	b.Subjects = b.Subjects[:1]
	checkErrs(t, RoleBindingUpdate(b, old))

	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "system:node"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}},
	}
	checkErrs(t, ClusterRoleBinding(crb), notSupported("roleRef.kind"), required("subjects[0].namespace"))
	oldCRB := crb.DeepCopy()
	crb.RoleRef.Kind = "ClusterRole"
	checkErrs(t, ClusterRoleBindingUpdate(crb, oldCRB), invalid("roleRef"), required("subjects[0].namespace"))
}
