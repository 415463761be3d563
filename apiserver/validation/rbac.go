package validation

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC objects (rbac.authorization.k8s.io/v1) are named like URL path
// segments, not DNS names: "system:kube-scheduler" is a valid role name.
var (
	// NamespacedPathSegment is the metadata rule of roles and role bindings.
	NamespacedPathSegment = MetaRule{Namespaced: true, Name: path.ValidatePathSegmentName}
	// ClusterPathSegment is the metadata rule of cluster roles and cluster
	// role bindings.
	ClusterPathSegment = MetaRule{Namespaced: false, Name: path.ValidatePathSegmentName}
)

// Role validates a namespaced role: its rules, none of which may name
// non-resource URLs (those exist only cluster-wide).
func Role(r *rbacv1.Role) field.ErrorList {
	errs := ObjectMeta(&r.ObjectMeta, NamespacedPathSegment, field.NewPath("metadata"))
	return append(errs, policyRules(r.Rules, false, field.NewPath("rules"))...)
}

// RoleUpdate validates an update of a role: metadata rules and the new rules.
func RoleUpdate(newR, oldR *rbacv1.Role) field.ErrorList {
	errs := ObjectMetaUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, field.NewPath("metadata"))
	return append(errs, policyRules(newR.Rules, false, field.NewPath("rules"))...)
}

// ClusterRole validates a cluster role: its rules and, when set, its
// aggregation rule (at least one valid label selector).
func ClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	errs := ObjectMeta(&r.ObjectMeta, ClusterPathSegment, field.NewPath("metadata"))
	return append(errs, clusterRoleContent(r)...)
}

// ClusterRoleUpdate validates an update of a cluster role.
func ClusterRoleUpdate(newR, oldR *rbacv1.ClusterRole) field.ErrorList {
	errs := ObjectMetaUpdate(&newR.ObjectMeta, &oldR.ObjectMeta, field.NewPath("metadata"))
	return append(errs, clusterRoleContent(newR)...)
}

func clusterRoleContent(r *rbacv1.ClusterRole) field.ErrorList {
	errs := policyRules(r.Rules, true, field.NewPath("rules"))
	if a := r.AggregationRule; a != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(a.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(p, "at least one clusterRoleSelector is required if aggregationRule is set"))
		}
		for i := range a.ClusterRoleSelectors {
			errs = append(errs, metav1validation.ValidateLabelSelector(&a.ClusterRoleSelectors[i], metav1validation.LabelSelectorValidationOptions{}, p.Index(i))...)
		}
	}
	return errs
}

// policyRules checks rules: each has verbs, and either resources with their
// API groups or (cluster roles only) non-resource URLs, never both.
func policyRules(rules []rbacv1.PolicyRule, cluster bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		rp := p.Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, field.Required(rp.Child("verbs"), "verbs must contain at least one value"))
		}
		for j, v := range r.Verbs {
			if v == "" {
				errs = append(errs, field.Invalid(rp.Child("verbs").Index(j), v, "must not be empty"))
			}
		}
		if len(r.NonResourceURLs) > 0 {
			if !cluster {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			for j, u := range r.NonResourceURLs {
				if u == "" || (u[0] != '/' && u != "*") {
					errs = append(errs, field.Invalid(rp.Child("nonResourceURLs").Index(j), u, "must be \"*\" or a path starting with \"/\""))
				}
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, field.Required(rp.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, field.Required(rp.Child("resources"), "resource rules must supply at least one resource"))
		}
		for j, res := range r.Resources {
			if res == "" {
				errs = append(errs, field.Invalid(rp.Child("resources").Index(j), res, "must not be empty"))
			}
		}
	}
	return errs
}

// RoleBinding validates a role binding: a role reference to a Role or a
// ClusterRole and valid subjects.
func RoleBinding(b *rbacv1.RoleBinding) field.ErrorList {
	errs := ObjectMeta(&b.ObjectMeta, NamespacedPathSegment, field.NewPath("metadata"))
	errs = append(errs, roleRef(b.RoleRef, true, field.NewPath("roleRef"))...)
	return append(errs, subjects(b.Subjects, true, field.NewPath("subjects"))...)
}

// RoleBindingUpdate validates an update of a role binding: roleRef is
// immutable (delete and create the binding to point it elsewhere).
func RoleBindingUpdate(newB, oldB *rbacv1.RoleBinding) field.ErrorList {
	errs := ObjectMetaUpdate(&newB.ObjectMeta, &oldB.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, roleRefUpdate(newB.RoleRef, oldB.RoleRef)...)
	return append(errs, subjects(newB.Subjects, true, field.NewPath("subjects"))...)
}

// ClusterRoleBinding validates a cluster role binding: a role reference to
// a ClusterRole and valid subjects (service accounts with a namespace).
func ClusterRoleBinding(b *rbacv1.ClusterRoleBinding) field.ErrorList {
	errs := ObjectMeta(&b.ObjectMeta, ClusterPathSegment, field.NewPath("metadata"))
	errs = append(errs, roleRef(b.RoleRef, false, field.NewPath("roleRef"))...)
	return append(errs, subjects(b.Subjects, false, field.NewPath("subjects"))...)
}

// ClusterRoleBindingUpdate validates an update of a cluster role binding;
// roleRef is immutable.
func ClusterRoleBindingUpdate(newB, oldB *rbacv1.ClusterRoleBinding) field.ErrorList {
	errs := ObjectMetaUpdate(&newB.ObjectMeta, &oldB.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, roleRefUpdate(newB.RoleRef, oldB.RoleRef)...)
	return append(errs, subjects(newB.Subjects, false, field.NewPath("subjects"))...)
}

func roleRefUpdate(newRef, oldRef rbacv1.RoleRef) field.ErrorList {
	if newRef != oldRef {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), newRef, "cannot change roleRef")}
	}
	return nil
}

func roleRef(ref rbacv1.RoleRef, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	switch {
	case ref.Kind == "":
		errs = append(errs, field.Required(p.Child("kind"), ""))
	case ref.Kind != "ClusterRole" && !(namespaced && ref.Kind == "Role"):
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, messages(p.Child("name"), ref.Name, path.ValidatePathSegmentName(ref.Name, false))...)
	}
	return errs
}

func subjects(ss []rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range ss {
		sp := p.Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.Name != "" {
				errs = append(errs, dnsSubdomain(s.Name, sp.Child("name"))...)
			}
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if !namespaced && s.Namespace == "" {
				errs = append(errs, field.Required(sp.Child("namespace"), ""))
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		case "":
			errs = append(errs, field.Required(sp.Child("kind"), ""))
		default:
			errs = append(errs, field.NotSupported(sp.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
		}
	}
	return errs
}
