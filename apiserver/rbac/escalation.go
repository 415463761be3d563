package rbac

import (
	"context"
	"errors"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/gantryhq/gantry/apiserver"
)

// EscalationOptions configure an EscalationCheck.
type EscalationOptions struct {
	// Authorizer is the API server's whole authorizer chain; it must be an
	// apiserver.RuleResolver too (an apiserver.Union is). Required.
	Authorizer apiserver.Authorizer
	// Policy resolves the roles bindings refer to. Required.
	Policy Policy
}

// EscalationCheck is a validating admission plugin that keeps users from
// granting permissions they do not have, as Kubernetes does:
//
//   - creating or updating a Role or ClusterRole needs every one of its
//     rules (for a ClusterRole with an aggregationRule, none: the rules
//     come from the aggregated roles), or the verb "escalate" on roles or
//     clusterroles;
//   - creating or updating a RoleBinding or ClusterRoleBinding needs every
//     rule of the role it refers to, in the binding's namespace (cluster-wide
//     for a ClusterRoleBinding), or the verb "bind" on that role.
//
// It is safe for concurrent use.
type EscalationCheck struct {
	authz    apiserver.Authorizer
	resolver apiserver.RuleResolver
	policy   Policy
}

var _ apiserver.ValidatingAdmission = (*EscalationCheck)(nil)

// NewEscalationCheck validates opts and returns the plugin.
func NewEscalationCheck(opts EscalationOptions) (*EscalationCheck, error) {
	if opts.Authorizer == nil || opts.Policy == nil {
		return nil, errors.New("rbac: EscalationOptions.Authorizer and Policy are required")
	}
	rr, ok := opts.Authorizer.(apiserver.RuleResolver)
	if !ok {
		return nil, fmt.Errorf("rbac: the authorizer %T cannot list rules (not an apiserver.RuleResolver)", opts.Authorizer)
	}
	return &EscalationCheck{authz: opts.Authorizer, resolver: rr, policy: opts.Policy}, nil
}

// Validate implements apiserver.ValidatingAdmission.
func (e *EscalationCheck) Validate(ctx context.Context, req *apiserver.AdmissionRequest) error {
	if req.Resource.Group != rbacv1.GroupName || req.Operation == apiserver.Delete {
		return nil
	}
	switch o := req.Object.(type) {
	case *rbacv1.Role:
		return e.checkRules(ctx, req, "roles", o.Namespace, o.Name, o.Rules)
	case *rbacv1.ClusterRole:
		if o.AggregationRule != nil {
			return e.checkRules(ctx, req, "clusterroles", "", o.Name, nil)
		}
		return e.checkRules(ctx, req, "clusterroles", "", o.Name, o.Rules)
	case *rbacv1.RoleBinding:
		return e.checkBind(ctx, req, o.Namespace, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		return e.checkBind(ctx, req, "", o.RoleRef)
	}
	return nil
}

// allowed asks the authorizer about one special verb.
func (e *EscalationCheck) allowed(ctx context.Context, user *apiserver.UserInfo, verb, resource, namespace, name string) bool {
	d, _, _ := e.authz.Authorize(ctx, apiserver.Attributes{
		User: user, Verb: verb, ResourceRequest: true, APIGroup: rbacv1.GroupName, APIVersion: "v1",
		Resource: resource, Namespace: namespace, Name: name,
	})
	return d == apiserver.DecisionAllow
}

func (e *EscalationCheck) checkRules(ctx context.Context, req *apiserver.AdmissionRequest, resource, namespace, name string, rules []rbacv1.PolicyRule) error {
	if len(rules) == 0 || e.allowed(ctx, req.User, "escalate", resource, namespace, name) {
		return nil
	}
	if missing := e.missing(ctx, req.User, namespace, rules); len(missing) > 0 {
		return fmt.Errorf("user %q is attempting to grant RBAC permissions not currently held: %s (or needs the verb escalate on %s)", req.User.Name, describeRules(missing), resource)
	}
	return nil
}

func (e *EscalationCheck) checkBind(ctx context.Context, req *apiserver.AdmissionRequest, namespace string, ref rbacv1.RoleRef) error {
	resource := "clusterroles"
	if ref.Kind == "Role" {
		resource = "roles"
	}
	if e.allowed(ctx, req.User, "bind", resource, namespace, ref.Name) {
		return nil
	}
	var rules []rbacv1.PolicyRule
	switch ref.Kind {
	case "Role":
		r, ok := e.policy.Role(namespace, ref.Name)
		if !ok {
			return fmt.Errorf("role %q not found: binding it needs the verb bind on roles", namespace+"/"+ref.Name)
		}
		rules = r.Rules
	default:
		r, ok := e.policy.ClusterRole(ref.Name)
		if !ok {
			return fmt.Errorf("clusterrole %q not found: binding it needs the verb bind on clusterroles", ref.Name)
		}
		rules = AggregatedRules(r, e.policy.ClusterRoles())
	}
	if missing := e.missing(ctx, req.User, namespace, rules); len(missing) > 0 {
		return fmt.Errorf("user %q may not bind %s %q: it does not hold its permissions %s (or needs the verb bind on %s)", req.User.Name, ref.Kind, ref.Name, describeRules(missing), resource)
	}
	return nil
}

// missing returns the rules the user does not hold in namespace ("" is
// cluster-wide).
func (e *EscalationCheck) missing(ctx context.Context, user *apiserver.UserInfo, namespace string, rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	held, _ := e.resolver.RulesFor(ctx, user, namespace) // an error leaves fewer rules: stricter
	var have []rbacv1.PolicyRule
	for _, r := range held.Resource {
		have = append(have, rbacv1.PolicyRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	for _, r := range held.NonResource {
		have = append(have, rbacv1.PolicyRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
	}
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if !Covers(have, r) {
			out = append(out, r)
		}
	}
	return out
}

func describeRules(rules []rbacv1.PolicyRule) string {
	var parts []string
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			parts = append(parts, fmt.Sprintf("{URLs:%v Verbs:%v}", r.NonResourceURLs, r.Verbs))
			continue
		}
		s := fmt.Sprintf("{APIGroups:%q Resources:%v Verbs:%v", r.APIGroups, r.Resources, r.Verbs)
		if len(r.ResourceNames) > 0 {
			s += fmt.Sprintf(" ResourceNames:%v", r.ResourceNames)
		}
		parts = append(parts, s+"}")
	}
	return summarize(parts, 3)
}
