package store

import (
	"context"
	"time"
)

// Store is a versioned key/value store with compare-and-swap writes and
// ordered watches. Implementations are safe for concurrent use.
//
// Every method that takes a context honours its cancellation and returns the
// context's error once it is done. After Close, every method returns an error
// wrapping ErrClosed and open watches end.
type Store interface {
	// Get returns the current value of key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (*KeyValue, error)

	// List returns the keys under prefix in key order, consistent at one
	// revision. See ListOptions for paging and reading at a past revision.
	List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error)

	// Create stores value at key if the key does not exist, and fails with
	// ErrAlreadyExists otherwise.
	Create(ctx context.Context, key string, value []byte, opts WriteOptions) (*KeyValue, error)

	// Update replaces the value of an existing key. If expectedRevision is not
	// zero, the write happens only if the key's ModRevision equals it, and
	// fails with ErrConflict otherwise. A missing key fails with ErrNotFound.
	// The TTL in opts replaces any TTL the key had; zero means none.
	Update(ctx context.Context, key string, value []byte, expectedRevision int64, opts WriteOptions) (*KeyValue, error)

	// Delete removes key and returns its last value. If expectedRevision is
	// not zero, it deletes only if the key's ModRevision equals it (else
	// ErrConflict). A missing key fails with ErrNotFound.
	Delete(ctx context.Context, key string, expectedRevision int64) (*KeyValue, error)

	// Watch streams the changes to keys under prefix that happen after
	// revision afterRevision, in revision order and without gaps. An
	// afterRevision of 0 means "from now on". If the revisions after
	// afterRevision are no longer available, Watch fails with ErrCompacted
	// (or the stream ends with an EventError wrapping it).
	//
	// The state at afterRevision is where the watch starts from: like a
	// List at that revision, it must not be below the last compaction, or
	// the watch fails with ErrCompacted (the first event's PrevValue would
	// be gone). Likewise a watch that falls behind a compaction ends with
	// ErrCompacted rather than deliver an update or delete without its
	// PrevValue.
	//
	// The channel is closed when ctx is done, the store is closed, or the
	// watch fails; in the last case the final event has Type EventError.
	// The caller must keep reading until the channel closes or cancel ctx.
	Watch(ctx context.Context, prefix string, afterRevision int64) (<-chan Event, error)

	// Compact discards the history before revision: reads and watches at
	// older revisions fail with ErrCompacted afterwards. Current values are
	// kept. Compacting at or below an earlier compaction is an ErrCompacted.
	Compact(ctx context.Context, revision int64) error

	// Close releases the store's resources. It is safe to call more than once.
	Close() error
}

// KeyValue is a key with its value and revisions.
type KeyValue struct {
	Key   string
	Value []byte
	// CreateRevision is the revision that created the key.
	CreateRevision int64
	// ModRevision is the revision of the last write to the key.
	ModRevision int64
}

// ListOptions control a List.
type ListOptions struct {
	// Limit caps the number of items returned; 0 means no limit. When more
	// items remain, ListResult.Continue is set.
	Limit int64
	// Continue resumes a paged list: pass the ListResult.Continue of the
	// previous page. The next page is read at the same revision as the first,
	// so the pages together are one consistent snapshot. Revision must be 0
	// when Continue is set.
	Continue string
	// Revision reads the state as it was at that revision; 0 means current.
	Revision int64
}

// ListResult is one page of a List.
type ListResult struct {
	Items []*KeyValue
	// Revision is the revision the list was read at.
	Revision int64
	// Continue is set when more items remain; pass it in ListOptions.
	Continue string
	// Remaining is the number of items after this page (0 when Continue is
	// empty).
	Remaining int64
}

// WriteOptions control Create and Update.
type WriteOptions struct {
	// TTL, when positive, makes the key expire that long after the write;
	// expiry is a delete seen by watchers. Negative is invalid.
	TTL time.Duration
}

// EventType says what happened to a key.
type EventType int

const (
	// EventCreate: the key was created; Value is set, PrevValue is nil.
	EventCreate EventType = iota + 1
	// EventUpdate: the key was changed; Value and PrevValue are set.
	EventUpdate
	// EventDelete: the key was deleted or expired; PrevValue is set.
	EventDelete
	// EventError: the watch failed with Err and ends.
	EventError
)

func (t EventType) String() string {
	switch t {
	case EventCreate:
		return "CREATE"
	case EventUpdate:
		return "UPDATE"
	case EventDelete:
		return "DELETE"
	case EventError:
		return "ERROR"
	}
	return "UNKNOWN"
}

// Event is one change seen by a watch.
type Event struct {
	Type  EventType
	Key   string
	Value []byte
	// PrevValue is the value before this change (nil for a create).
	PrevValue []byte
	// Revision is the revision of this change (for a delete, the revision of
	// the deletion).
	Revision int64
	// CreateRevision is the revision that created the key (0 for a delete).
	CreateRevision int64
	// Err is set for EventError.
	Err error
}
