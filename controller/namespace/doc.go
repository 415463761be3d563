// Package namespace holds the namespace lifecycle controller: when a
// namespace is Terminating (the API server sets that on delete) it deletes
// every namespaced object in it, found through the discovery API, and once
// nothing is left removes the "kubernetes" finalizer through the
// namespaces/<name>/finalize subresource, after which the API server deletes
// the namespace.
package namespace
