package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

// Policy is where the authorizer reads roles and bindings. The objects it
// returns are shared: callers must not change them. Implementations are
// safe for concurrent use.
type Policy interface {
	// ClusterRole returns the cluster role name, if there is one.
	ClusterRole(name string) (*rbacv1.ClusterRole, bool)
	// Role returns the role namespace/name, if there is one.
	Role(namespace, name string) (*rbacv1.Role, bool)
	// ClusterRoles returns every cluster role (for aggregation).
	ClusterRoles() []*rbacv1.ClusterRole
	// ClusterRoleBindings returns every cluster role binding.
	ClusterRoleBindings() []*rbacv1.ClusterRoleBinding
	// RoleBindings returns the role bindings of one namespace.
	RoleBindings(namespace string) []*rbacv1.RoleBinding
}

// StaticPolicy is a fixed Policy, for tests and for callers that load
// their policy once. Its fields must not change once it is in use.
type StaticPolicy struct {
	Roles               []*rbacv1.Role
	ClusterRoleList     []*rbacv1.ClusterRole
	RoleBindingList     []*rbacv1.RoleBinding
	ClusterRoleBindList []*rbacv1.ClusterRoleBinding
}

var _ Policy = (*StaticPolicy)(nil)

// ClusterRole implements Policy.
func (p *StaticPolicy) ClusterRole(name string) (*rbacv1.ClusterRole, bool) {
	for _, r := range p.ClusterRoleList {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// Role implements Policy.
func (p *StaticPolicy) Role(namespace, name string) (*rbacv1.Role, bool) {
	for _, r := range p.Roles {
		if r.Namespace == namespace && r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// ClusterRoles implements Policy.
func (p *StaticPolicy) ClusterRoles() []*rbacv1.ClusterRole { return p.ClusterRoleList }

// ClusterRoleBindings implements Policy.
func (p *StaticPolicy) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return p.ClusterRoleBindList
}

// RoleBindings implements Policy.
func (p *StaticPolicy) RoleBindings(namespace string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	for _, b := range p.RoleBindingList {
		if b.Namespace == namespace {
			out = append(out, b)
		}
	}
	return out
}
