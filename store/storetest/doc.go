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
package storetest
