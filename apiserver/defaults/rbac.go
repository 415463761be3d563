package defaults

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

// RoleBinding defaults a role binding's subjects (see Subjects).
func RoleBinding(b *rbacv1.RoleBinding) { Subjects(b.Subjects) }

// ClusterRoleBinding defaults a cluster role binding's subjects (see
// Subjects).
func ClusterRoleBinding(b *rbacv1.ClusterRoleBinding) { Subjects(b.Subjects) }

// Subjects sets the API group of User and Group subjects that have none to
// rbac.authorization.k8s.io, as Kubernetes does; ServiceAccount subjects
// keep the core group ("").
func Subjects(ss []rbacv1.Subject) {
	for i := range ss {
		if ss[i].APIGroup == "" && (ss[i].Kind == rbacv1.UserKind || ss[i].Kind == rbacv1.GroupKind) {
			ss[i].APIGroup = rbacv1.GroupName
		}
	}
}
