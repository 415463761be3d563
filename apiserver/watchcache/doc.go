// Package watchcache keeps the objects of one API resource in memory, read
// from the API server's store: a list, then a watch from the list's
// revision, and a new list whenever the watch ends (compaction, a lost
// connection). Parts of the API server that must answer from the current
// objects on every request without reading the store each time (the RBAC
// authorizer's roles and bindings, the node authorizer's pods) use it.
//
// A [Cache] is typed by the Go type of the objects (rbacv1.Role,
// corev1.Pod, ...), decoded from the JSON the API server stores. Reads are
// by namespace and name, by namespace, or by one secondary index (a pod's
// node name, say). Several API servers over one etcd each keep their own
// cache and see each other's writes within a watch round trip.
package watchcache
