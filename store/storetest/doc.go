// Package storetest is the conformance suite for implementations of
// [store.Store]. Every backend's tests call [Run]; a backend passes when it
// behaves like etcd v3 as the store package describes it: revisions, CAS
// writes and their sentinel errors, ordered gapless watches with previous
// values, history reads and paging at one revision, compaction, TTL expiry,
// context cancellation, Close, and input validation.
//
// The suite is written for stores that share a server: each subtest writes
// only under its own key prefix ("/storetest/<subtest>-<random>/"), never
// assumes that revisions start at 1 or are contiguous across the whole store,
// and only compacts at revisions it wrote itself. Subtests run one after the
// other, never in parallel, because compaction affects the whole server.
//
// Stores on a fake clock give [Backend.Advance], and the TTL test steps the
// clock; stores on real time (etcd) leave it nil, and the suite polls with a
// deadline instead. The suite never sleeps to wait for something: it polls a
// condition until a deadline, or waits for an event with a timeout.
//
// # What the suite pins down
//
// Beyond the sentinel errors, these details of the Store contract are
// checked, so that every backend agrees on them:
//
//   - every write, including a delete and an expiry, makes a new, larger
//     revision; a List reports the revision it read at;
//   - Delete returns the key's value as it was, with the ModRevision of its
//     last write (not the revision of the deletion); the delete event has
//     the deletion's revision, PrevValue set, and no Value or
//     CreateRevision;
//   - Watch with afterRevision 0 sees every write that completes after Watch
//     returns; a watch after revision R needs the state at R, so R below the
//     last compaction fails with ErrCompacted, at once or as an EventError;
//   - a watch whose context is canceled, or whose store is closed, ends by
//     closing its channel, without an EventError;
//   - errors name the key (or prefix) they concern, canceled calls wrap
//     context.Canceled, and Close may be called again and returns nil;
//   - values passed in and handed out are copies.
package storetest
