// Package memory is an in-process implementation of [store.Store] with the
// semantics of etcd v3, for tests and simulation.
//
// It is a multi-version store: every write moves a global revision counter
// forward by one, every key remembers the revisions of its past values, and
// an append-only event log, indexed by revision, feeds watches. A fresh store
// is at revision 1 and its first write makes revision 2, as on a fresh etcd
// server, so revisions (resourceVersions) look the same against both.
//
// # Reads
//
// Get reads the current value. List reads the current state or, with
// [store.ListOptions.Revision], the state as it was at a past revision: keys
// deleted since then appear, keys created since then do not. Paged lists read
// every page at the revision of the first one, using the continue tokens of
// package store.
//
// # Watches
//
// Each watch is a goroutine that walks the event log from the requested
// revision, filters it by prefix and sends the events on its own channel; once
// it has caught up it waits for the next write. Writers never wait for
// watchers, so a watcher that does not read holds back nobody, and it costs no
// memory beyond the shared log. The log is trimmed by [Store.Compact]; a
// watcher that falls behind a compaction ends with an [store.EventError]
// wrapping [store.ErrCompacted], like an etcd watch.
//
// # Expiry
//
// Keys written with a TTL expire on the clock given in [Options.Clock]: the
// expiry is a delete at a new revision, seen by watchers. One goroutine sleeps
// until the earliest deadline. With a fake clock
// (k8s.io/utils/clock/testing.FakeClock), keys expire when the test steps the
// clock past their deadline; TTLs are exact, not rounded to seconds.
//
// The store keeps its history until it is compacted: call Compact
// periodically (the API server does) to bound memory.
package memory
