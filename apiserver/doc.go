// Package apiserver serves the Kubernetes REST API over a store.Store.
//
// [New] returns an http.Handler that real kubectl and client-go talk to
// unchanged: the core/v1, apps/v1, batch/v1, coordination.k8s.io/v1,
// discovery.k8s.io/v1 and rbac.authorization.k8s.io/v1 resources with their
// status and scale subresources, the authorization.k8s.io/v1 access reviews
// (kubectl auth can-i, answered by the configured Authorizer),
// list and watch with selectors and paging, the three patch types, graceful
// deletion with finalizers, discovery (legacy and aggregated) and Table
// output for kubectl get.
//
// Every request passes the same chain: decode, authenticate, authorize,
// admit (mutate, then validate) and only then the store. Authorizers
// compose with [Union] (first decision wins) and [PrivilegedGroups] (the
// system:masters short-circuit); package apiserver/rbac is RBAC and
// package apiserver/noderestriction restricts node agents. The API server is
// the only component that touches the store; all others are its clients, so
// several API servers over one store serve the same data.
//
// A served resource is one [Resource] value: its kind, its Go type, and the
// few hooks where it differs from the generic behaviour. [DefaultResources]
// lists the built-in ones.
package apiserver
