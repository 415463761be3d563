// Package store defines the versioned key/value store that holds all cluster
// state, the key layout of that state, and the errors every implementation
// returns.
//
// The API server is the only component that talks to a Store; everything else
// goes through the API server. Implementations live in subpackages:
//
//   - store/etcd: etcd v3 through clientv3, against an embedded server (the
//     single-binary default) or an external cluster;
//   - store/memory: an in-process MVCC store with the same semantics, for tests
//     and simulation;
//   - store/storetest: the conformance suite both implementations pass.
//
// # Revisions
//
// Every successful write moves the store to a new, strictly larger revision.
// A KeyValue records the revision that created the key and the revision of its
// last change; the API server exposes the latter as metadata.resourceVersion.
// Writes are guarded by the expected modification revision (compare-and-swap),
// so two writers can never silently overwrite each other.
//
// # Keys
//
// Keys are absolute, slash-separated paths. Cluster objects live at
// /registry/<resource>/<namespace>/<name>, or /registry/<resource>/<name> for
// cluster-scoped resources; see [ObjectKey] and [ObjectPrefix].
package store
