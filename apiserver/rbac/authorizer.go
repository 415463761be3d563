package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantryhq/gantry/apiserver"
)

// Options configure an Authorizer.
type Options struct {
	// Policy is where roles and bindings come from. Required.
	Policy Policy
}

// Authorizer decides requests by RBAC roles and bindings. It allows or has
// no opinion, never denies. It is safe for concurrent use.
type Authorizer struct {
	policy Policy
}

var (
	_ apiserver.Authorizer   = (*Authorizer)(nil)
	_ apiserver.RuleResolver = (*Authorizer)(nil)
)

// New returns an Authorizer reading opts.Policy.
func New(opts Options) (*Authorizer, error) {
	if opts.Policy == nil {
		return nil, errors.New("rbac: Options.Policy is required")
	}
	return &Authorizer{policy: opts.Policy}, nil
}

// Authorize implements apiserver.Authorizer: DecisionAllow when a rule of a
// role bound to the user matches a, with a reason naming the binding and
// the role; DecisionNoOpinion otherwise, with a reason saying which roles
// were looked at. Bindings to roles that do not exist are skipped and
// named in the reason.
func (z *Authorizer) Authorize(_ context.Context, a apiserver.Attributes) (apiserver.Decision, string, error) {
	if a.User == nil {
		return apiserver.DecisionNoOpinion, "RBAC: no user", nil
	}
	// Reasons are formatted only when they are returned: the roles looked
	// at are kept as bindings.
	var lookedCRB, missingCRB []*rbacv1.ClusterRoleBinding
	var lookedRB, missingRB []*rbacv1.RoleBinding
	for _, b := range z.policy.ClusterRoleBindings() {
		if !anySubjectMatches(b.Subjects, a.User, "") {
			continue
		}
		found, allowed := z.clusterRoleAllows(b.RoleRef.Name, a)
		if !found {
			missingCRB = append(missingCRB, b)
			continue
		}
		lookedCRB = append(lookedCRB, b)
		if allowed {
			return apiserver.DecisionAllow, fmt.Sprintf("RBAC: allowed by ClusterRoleBinding %q of ClusterRole %q to %s", b.Name, b.RoleRef.Name, describeUser(a.User)), nil
		}
	}
	if a.ResourceRequest && a.Namespace != "" {
		for _, b := range z.policy.RoleBindings(a.Namespace) {
			if !anySubjectMatches(b.Subjects, a.User, b.Namespace) {
				continue
			}
			var found, allowed bool
			if b.RoleRef.Kind == "Role" {
				var r *rbacv1.Role
				if r, found = z.policy.Role(b.Namespace, b.RoleRef.Name); found {
					allowed = matchingRule(r.Rules, a) >= 0
				}
			} else {
				found, allowed = z.clusterRoleAllows(b.RoleRef.Name, a)
			}
			if !found {
				missingRB = append(missingRB, b)
				continue
			}
			lookedRB = append(lookedRB, b)
			if allowed {
				return apiserver.DecisionAllow, fmt.Sprintf("RBAC: allowed by RoleBinding %q of %s to %s", b.Namespace+"/"+b.Name, describeRoleRef(b), describeUser(a.User)), nil
			}
		}
	}
	var looked, missing []string
	for _, b := range lookedCRB {
		looked = append(looked, fmt.Sprintf("ClusterRole %q", b.RoleRef.Name))
	}
	for _, b := range lookedRB {
		looked = append(looked, describeRoleRef(b))
	}
	for _, b := range missingCRB {
		missing = append(missing, fmt.Sprintf("ClusterRole %q (of ClusterRoleBinding %q)", b.RoleRef.Name, b.Name))
	}
	for _, b := range missingRB {
		missing = append(missing, fmt.Sprintf("%s (of RoleBinding %q)", describeRoleRef(b), b.Namespace+"/"+b.Name))
	}
	var reason string
	if len(looked) == 0 {
		reason = fmt.Sprintf("RBAC: no role is bound to %s", describeUser(a.User))
	} else {
		reason = fmt.Sprintf("RBAC: no rule of the roles bound to %s allows it (%s)", describeUser(a.User), summarize(looked, 6))
	}
	if len(missing) > 0 {
		reason += "; bound but not found: " + summarize(missing, 3)
	}
	return apiserver.DecisionNoOpinion, reason, nil
}

// matchingRule returns the index of the first rule allowing a, or -1.
func matchingRule(rules []rbacv1.PolicyRule, a apiserver.Attributes) int {
	for i := range rules {
		if RuleAllows(&rules[i], a) {
			return i
		}
	}
	return -1
}

// describeRoleRef is "Role \"ns/name\"" or "ClusterRole \"name\"".
func describeRoleRef(b *rbacv1.RoleBinding) string {
	if b.RoleRef.Kind == "Role" {
		return fmt.Sprintf("Role %q", b.Namespace+"/"+b.RoleRef.Name)
	}
	return fmt.Sprintf("ClusterRole %q", b.RoleRef.Name)
}

// clusterRoleAllows reports whether the cluster role name exists and
// whether its rules, or those of the cluster roles it aggregates, allow a.
// It allocates nothing for roles without an aggregationRule.
func (z *Authorizer) clusterRoleAllows(name string, a apiserver.Attributes) (found, allowed bool) {
	r, ok := z.policy.ClusterRole(name)
	if !ok {
		return false, false
	}
	if matchingRule(r.Rules, a) >= 0 {
		return true, true
	}
	if r.AggregationRule == nil {
		return true, false
	}
	seen := map[string]bool{r.Name: true}
	var visit func(r *rbacv1.ClusterRole) bool
	visit = func(r *rbacv1.ClusterRole) bool {
		for _, c := range z.policy.ClusterRoles() {
			if seen[c.Name] || !aggregates(r.AggregationRule, c.Labels) {
				continue
			}
			seen[c.Name] = true
			if matchingRule(c.Rules, a) >= 0 || (c.AggregationRule != nil && visit(c)) {
				return true
			}
		}
		return false
	}
	return true, visit(r)
}

// aggregates reports whether one of the selectors of rule picks a cluster
// role with labels; selectors with only matchLabels are matched without
// allocating.
func aggregates(rule *rbacv1.AggregationRule, l map[string]string) bool {
	for i := range rule.ClusterRoleSelectors {
		sel := &rule.ClusterRoleSelectors[i]
		if len(sel.MatchExpressions) == 0 {
			if len(sel.MatchLabels) == 0 {
				continue // an empty selector picks nothing
			}
			all := true
			for k, v := range sel.MatchLabels {
				if lv, ok := l[k]; !ok || lv != v {
					all = false
					break
				}
			}
			if all {
				return true
			}
			continue
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err == nil && !s.Empty() && s.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

// roleRefRules returns the rules of the role a role binding refers to and
// a description ("Role \"ns/name\"" or "ClusterRole \"name\"").
func (z *Authorizer) roleRefRules(b *rbacv1.RoleBinding) ([]rbacv1.PolicyRule, string, bool) {
	if b.RoleRef.Kind == "Role" {
		desc := fmt.Sprintf("Role %q", b.Namespace+"/"+b.RoleRef.Name)
		r, ok := z.policy.Role(b.Namespace, b.RoleRef.Name)
		if !ok {
			return nil, desc, false
		}
		return r.Rules, desc, true
	}
	rules, ok := z.clusterRoleRules(b.RoleRef.Name)
	return rules, fmt.Sprintf("ClusterRole %q", b.RoleRef.Name), ok
}

// clusterRoleRules returns a cluster role's rules, with those of the
// cluster roles its aggregationRule selects.
func (z *Authorizer) clusterRoleRules(name string) ([]rbacv1.PolicyRule, bool) {
	r, ok := z.policy.ClusterRole(name)
	if !ok {
		return nil, false
	}
	if r.AggregationRule == nil {
		return r.Rules, true
	}
	return AggregatedRules(r, z.policy.ClusterRoles()), true
}

// AggregatedRules returns the rules of role followed by those of the
// cluster roles in all that one of its aggregationRule's selectors picks,
// and so on for picked roles that aggregate too (each role once). Invalid
// selectors pick nothing.
func AggregatedRules(role *rbacv1.ClusterRole, all []*rbacv1.ClusterRole) []rbacv1.PolicyRule {
	if role.AggregationRule == nil {
		return role.Rules
	}
	seen := map[string]bool{}
	var out []rbacv1.PolicyRule
	var visit func(r *rbacv1.ClusterRole)
	visit = func(r *rbacv1.ClusterRole) {
		if seen[r.Name] {
			return
		}
		seen[r.Name] = true
		out = append(out, r.Rules...)
		if r.AggregationRule == nil {
			return
		}
		var sels []labels.Selector
		for i := range r.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&r.AggregationRule.ClusterRoleSelectors[i])
			if err == nil && !s.Empty() {
				sels = append(sels, s)
			}
		}
		for _, c := range all {
			for _, s := range sels {
				if s.Matches(labels.Set(c.Labels)) {
					visit(c)
					break
				}
			}
		}
	}
	visit(role)
	return out
}

// RulesFor implements apiserver.RuleResolver: the rules of every role bound
// to user cluster-wide, and of those bound in namespace.
func (z *Authorizer) RulesFor(_ context.Context, user *apiserver.UserInfo, namespace string) (apiserver.Rules, error) {
	var out apiserver.Rules
	var missing []string
	add := func(rules []rbacv1.PolicyRule, nonResource bool) {
		for _, r := range rules {
			if len(r.NonResourceURLs) > 0 {
				if nonResource {
					out.NonResource = append(out.NonResource, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
				}
				continue
			}
			out.Resource = append(out.Resource, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
		}
	}
	for _, b := range z.policy.ClusterRoleBindings() {
		if !anySubjectMatches(b.Subjects, user, "") {
			continue
		}
		rules, ok := z.clusterRoleRules(b.RoleRef.Name)
		if !ok {
			missing = append(missing, fmt.Sprintf("ClusterRole %q", b.RoleRef.Name))
			continue
		}
		add(rules, true)
	}
	if namespace != "" {
		for _, b := range z.policy.RoleBindings(namespace) {
			if !anySubjectMatches(b.Subjects, user, b.Namespace) {
				continue
			}
			rules, desc, ok := z.roleRefRules(b)
			if !ok {
				missing = append(missing, desc)
				continue
			}
			add(rules, false)
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("rbac: bound roles not found: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func describeUser(u *apiserver.UserInfo) string {
	return fmt.Sprintf("User %q", u.Name)
}

func summarize(items []string, max int) string {
	if len(items) > max {
		return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
	}
	return strings.Join(items, ", ")
}
