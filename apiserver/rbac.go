package apiserver

import (
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/apiserver/defaults"
	"github.com/gantryhq/gantry/apiserver/validation"
)

// rbacResources are the rbac.authorization.k8s.io/v1 resources: roles and
// role bindings in namespaces, cluster roles and cluster role bindings. The
// server stores and validates them; an authorizer (package apiserver/rbac)
// reads them.
func rbacResources() []Resource {
	createdAt := []metav1.TableColumnDefinition{{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}}
	createdAtCell := func(obj runtime.Object) []any {
		return []any{mustAccessor(obj).GetCreationTimestamp().UTC().Format(time.RFC3339)}
	}
	bindingColumns := []metav1.TableColumnDefinition{
		{Name: "Role", Type: "string", Description: rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]},
		{Name: "Users", Type: "string", Priority: 1, Description: "Users in the roleBinding"},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the roleBinding"},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the roleBinding"},
	}
	return []Resource{
		{
			GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("Role"),
			Plural:           "roles", Namespaced: true,
			New:      func() runtime.Object { return &rbacv1.Role{} },
			NewList:  func() runtime.Object { return &rbacv1.RoleList{} },
			Validate: func(obj runtime.Object) field.ErrorList { return validation.Role(obj.(*rbacv1.Role)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validation.RoleUpdate(obj.(*rbacv1.Role), old.(*rbacv1.Role))
			},
			Columns: createdAt, Cells: createdAtCell, noAge: true,
		},
		{
			GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("ClusterRole"),
			Plural:           "clusterroles",
			New:              func() runtime.Object { return &rbacv1.ClusterRole{} },
			NewList:          func() runtime.Object { return &rbacv1.ClusterRoleList{} },
			Validate:         func(obj runtime.Object) field.ErrorList { return validation.ClusterRole(obj.(*rbacv1.ClusterRole)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validation.ClusterRoleUpdate(obj.(*rbacv1.ClusterRole), old.(*rbacv1.ClusterRole))
			},
			Columns: createdAt, Cells: createdAtCell, noAge: true,
		},
		{
			GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("RoleBinding"),
			Plural:           "rolebindings", Namespaced: true,
			New:      func() runtime.Object { return &rbacv1.RoleBinding{} },
			NewList:  func() runtime.Object { return &rbacv1.RoleBindingList{} },
			Default:  func(obj runtime.Object) { defaults.RoleBinding(obj.(*rbacv1.RoleBinding)) },
			Validate: func(obj runtime.Object) field.ErrorList { return validation.RoleBinding(obj.(*rbacv1.RoleBinding)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validation.RoleBindingUpdate(obj.(*rbacv1.RoleBinding), old.(*rbacv1.RoleBinding))
			},
			Columns: bindingColumns,
			Cells: func(obj runtime.Object) []any {
				b := obj.(*rbacv1.RoleBinding)
				return bindingCells(b.RoleRef, b.Subjects)
			},
		},
		{
			GroupVersionKind: rbacv1.SchemeGroupVersion.WithKind("ClusterRoleBinding"),
			Plural:           "clusterrolebindings",
			New:              func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
			NewList:          func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
			Default:          func(obj runtime.Object) { defaults.ClusterRoleBinding(obj.(*rbacv1.ClusterRoleBinding)) },
			Validate: func(obj runtime.Object) field.ErrorList {
				return validation.ClusterRoleBinding(obj.(*rbacv1.ClusterRoleBinding))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validation.ClusterRoleBindingUpdate(obj.(*rbacv1.ClusterRoleBinding), old.(*rbacv1.ClusterRoleBinding))
			},
			Columns: bindingColumns,
			Cells: func(obj runtime.Object) []any {
				b := obj.(*rbacv1.ClusterRoleBinding)
				return bindingCells(b.RoleRef, b.Subjects)
			},
		},
	}
}

// bindingCells are the Role, Users, Groups and ServiceAccounts cells of a
// binding, as kubectl prints them.
func bindingCells(ref rbacv1.RoleRef, subjects []rbacv1.Subject) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []any{ref.Kind + "/" + ref.Name, joinOr(users, ""), joinOr(groups, ""), joinOr(sas, "")}
}
