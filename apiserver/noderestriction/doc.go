// Package noderestriction limits node agents to their own node: an
// [apiserver.Authorizer] (like Kubernetes' Node authorizer) and a
// validating admission plugin (like its NodeRestriction plugin).
//
// A node agent authenticates as system:node:<name> in the group
// system:nodes ([NodeName]). The RBAC bootstrap role system:node gives
// every node agent what node agents need (read nodes and pods, write
// nodes, pod status, leases, events); this package narrows it down:
//
//   - [Authorizer] decides, before RBAC, the requests a node agent makes
//     for Node objects and for Leases: it may change only its own Node (and
//     its status) and use only its own Lease in kube-node-lease; anything
//     else of those kinds is denied with a reason. It has no opinion on
//     other requests, which RBAC decides.
//   - [Admission] checks the objects of a node agent's writes: it may create
//     a Node or Lease only with its own name, not set labels under
//     node-restriction.kubernetes.io/ nor change its taints once
//     registered, change or delete only pods bound to it, change their
//     status only (not their spec), create only mirror pods bound to
//     itself, and (with AdmissionOptions.Store) request service account
//     tokens only bound to a pod of its own that runs as that account.
//
// With a [PodIndex] (AuthorizerOptions.Pods), the authorizer also narrows
// reads: a node agent may get a secret, config map, persistent volume claim
// or service account only when a pod bound to it refers to it, may not
// list or watch them, and may request tokens (serviceaccounts/token) only
// for the service accounts its pods run as.
//
// A node agent that touches another node's pod therefore gets 403
// Forbidden, with a message naming both nodes. Other reads (nodes, pods,
// services, endpoints) are RBAC's: every node agent may read them.
package noderestriction
