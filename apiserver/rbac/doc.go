// Package rbac is role-based access control for the API server: an
// [apiserver.Authorizer] that decides requests by the
// rbac.authorization.k8s.io/v1 objects (roles, cluster roles and their
// bindings), and the bootstrap policy every cluster starts with.
//
// # Deciding
//
// [Authorizer] allows a request when a rule of a role bound to the user
// (by name, by one of its groups, or as a service account
// system:serviceaccount:<namespace>:<name>) matches it: cluster role
// bindings grant their cluster role everywhere, role bindings grant a role
// or a cluster role in their namespace only. A rule matches by verb, API
// group, resource ("pods", "pods/log" for a subresource, "*" and "*/scale"),
// resource names, or, for requests outside the API, by non-resource URL
// ("/healthz", a trailing "*" matches a prefix). Cluster roles with an
// aggregationRule also have the rules of the cluster roles their selectors
// pick. Nothing is ever denied explicitly: when no rule matches the
// authorizer has no opinion, with a reason naming the roles it looked at,
// and the API server's default is to deny (403). The superuser group
// system:masters is not RBAC's business: put
// [apiserver.PrivilegedGroups] first in an [apiserver.Union].
//
// The authorizer reads roles and bindings from a [Policy]: [StoreCache]
// keeps them in memory from the API server's store (package
// apiserver/watchcache: a list, then a watch, listing again when the watch
// breaks), so that several API servers over one etcd see the same policy
// within a watch round trip; [StaticPolicy] is a fixed set, for tests.
// BenchmarkAuthorize measures a decision among a few thousand bindings
// in microseconds.
//
// # Escalation
//
// [EscalationCheck] is a validating admission plugin that keeps a user who
// may write roles or bindings from granting more than the user holds: a
// role's rules must be the user's own (or the user may "escalate"), and a
// binding's role must be (or the user may "bind" it), as in Kubernetes.
//
// # Bootstrap policy
//
// [BootstrapPolicy] is the default cluster roles and bindings of a
// Kubernetes cluster: cluster-admin, admin, edit, view, the discovery and
// basic-user roles every authenticated user has, and the roles of the
// control-plane components by the identities of their certificates
// (system:kube-scheduler, system:kube-controller-manager, the node agents in
// group system:nodes, system:kube-proxy). [EnsureBootstrapPolicy] writes it
// through the API: it creates what is missing and adds missing rules and
// subjects to existing objects, leaving alone objects annotated
// rbac.authorization.kubernetes.io/autoupdate=false.
package rbac
