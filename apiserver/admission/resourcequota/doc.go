// Package resourcequota enforces ResourceQuotas at admission, like
// Kubernetes' ResourceQuota admission plugin, and holds the usage
// arithmetic the quota controller (controller/resourcequota) shares.
//
// A ResourceQuota caps, per namespace, what the objects there use:
// object counts (pods, services, configmaps, secrets,
// replicationcontrollers, resourcequotas, persistentvolumeclaims and
// count/<resource>[.<group>] for any resource), the compute resources of
// pods (requests.cpu, requests.memory, limits.cpu, limits.memory, and cpu
// and memory meaning requests), services.nodeports and
// services.loadbalancers. Scopes (Terminating, NotTerminating,
// BestEffort, NotBestEffort, PriorityClass, CrossNamespacePodAffinity, in
// spec.scopes or spec.scopeSelector) narrow a quota to some pods. Pods in a
// terminal phase use nothing but their count/pods.
//
// [Plugin] is a validating plugin: on every create of an object (and on
// updates that increase what it uses) it charges the usage to
// status.used of each quota of the namespace that selects it, and denies
// the request with 403 Forbidden naming the quota and the resource when a
// hard limit would be exceeded:
//
//	exceeded quota: q1, requested: pods=1, used: pods=2, limited: pods=2
//
// Charges are compare-and-swap writes of the quota in the store, retried
// when another request (or another API server over the same store) wrote
// it first, so concurrent requests never together exceed a quota. A
// dry-run request is checked but charges nothing. The charge happens
// before the object is stored: if storing fails afterwards the quota
// stays charged until the quota controller recomputes it, as in
// Kubernetes. Deletes release nothing here; the controller does.
//
// As a mutating plugin it fills in the status of a quota being created or
// having its spec.hard changed (status.hard, and status.used computed from
// the namespace's objects), so a quota counts right from the start even
// before the controller has seen it.
package resourcequota
