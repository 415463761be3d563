package apiserver

import (
	"context"
	"errors"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// Union is an authorizer chain: it asks its authorizers in order and the
// first that allows or denies decides; when all have no opinion, neither
// has the union, and their reasons are joined. Errors of authorizers that
// have no opinion are joined too but do not stop the chain. A Union is safe
// for concurrent use when its members are.
type Union []Authorizer

var _ Authorizer = Union(nil)
var _ RuleResolver = Union(nil)

// Authorize implements Authorizer.
func (u Union) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var reasons []string
	var errs []error
	for _, z := range u {
		d, reason, err := z.Authorize(ctx, a)
		if d != DecisionNoOpinion {
			return d, reason, err
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return DecisionNoOpinion, strings.Join(reasons, "; "), errors.Join(errs...)
}

// RulesFor implements RuleResolver: the rules of every member that is a
// RuleResolver, in order. The result is incomplete when a member is not a
// RuleResolver or says its answer is.
func (u Union) RulesFor(ctx context.Context, user *UserInfo, namespace string) (Rules, error) {
	var all Rules
	var errs []error
	for _, z := range u {
		rr, ok := z.(RuleResolver)
		if !ok {
			all.Incomplete = true
			continue
		}
		r, err := rr.RulesFor(ctx, user, namespace)
		if err != nil {
			errs = append(errs, err)
		}
		all.Resource = append(all.Resource, r.Resource...)
		all.NonResource = append(all.NonResource, r.NonResource...)
		all.Incomplete = all.Incomplete || r.Incomplete
	}
	return all, errors.Join(errs...)
}

// Rules are what a user may do, as a SelfSubjectRulesReview reports it.
type Rules struct {
	Resource    []authorizationv1.ResourceRule
	NonResource []authorizationv1.NonResourceRule
	// Incomplete says that the authorizer may allow more than the rules
	// show (e.g. it decides by more than rules).
	Incomplete bool
}

// RuleResolver is implemented by authorizers that can list the rules a
// user has in a namespace (all cluster-wide rules plus those of the
// namespace); the API server serves SelfSubjectRulesReview with it.
type RuleResolver interface {
	RulesFor(ctx context.Context, user *UserInfo, namespace string) (Rules, error)
}

// MastersGroup is the group whose members may do anything
// (Kubernetes' system:masters).
const MastersGroup = "system:masters"

// PrivilegedGroups returns an authorizer that allows every request of a
// member of one of groups and has no opinion about other users: the
// superuser short-circuit that goes first in a Union, as Kubernetes does for
// system:masters.
func PrivilegedGroups(groups ...string) Authorizer {
	groups = slices.Clone(groups)
	return privileged{groups: groups}
}

type privileged struct{ groups []string }

func (p privileged) Authorize(_ context.Context, a Attributes) (Decision, string, error) {
	if a.User != nil {
		for _, g := range a.User.Groups {
			if slices.Contains(p.groups, g) {
				return DecisionAllow, "member of the privileged group " + g, nil
			}
		}
	}
	return DecisionNoOpinion, "", nil
}

func (p privileged) RulesFor(_ context.Context, user *UserInfo, _ string) (Rules, error) {
	for _, g := range user.Groups {
		if slices.Contains(p.groups, g) {
			return Rules{
				Resource:    []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
				NonResource: []authorizationv1.NonResourceRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
			}, nil
		}
	}
	return Rules{}, nil
}
