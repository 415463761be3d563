package memory

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/store"
)

// Options configure New. The zero value is ready to use.
type Options struct {
	// Clock drives TTL expiry. Nil means clock.RealClock{}. Tests pass a
	// k8s.io/utils/clock/testing.FakeClock and step it.
	Clock clock.WithTicker
}

// Store is an in-memory [store.Store]. Create it with New; it is safe for
// concurrent use. Close it to stop its goroutines (one for expiry, one per
// open watch).
type Store struct {
	clock clock.WithTicker

	// closed is set (under mu) by Close; it is atomic so that calls can
	// fail fast without taking the lock.
	closed atomic.Bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	mu sync.RWMutex
	// rev is the current revision: the revision of the last write, 1 on a
	// fresh store.
	rev int64
	// compacted is the revision of the last compaction (0: never): state
	// and events before it are gone.
	compacted int64
	// keys maps every key that has history to its versions, including keys
	// whose last version is a deletion. sorted holds the same keys in order
	// (a B-tree: a create or a compaction does not move the other keys).
	keys   map[string]*history
	sorted *btree.BTreeG[string]
	// log[i] is the change made at revision logStart+i; logStart is
	// compacted+1 after a compaction.
	log      []record
	logStart int64
	// changed is closed and replaced by every write; watchers that have
	// caught up wait on it.
	changed chan struct{}

	// Expiry: a heap of deadlines and one timer for the earliest.
	expiries expiryHeap
	timer    clock.Timer // nil when no timer is armed
	timerAt  time.Time   // deadline timer was armed for
	kick     chan struct{}
}

var _ store.Store = (*Store)(nil)

// history is what the store knows of one key.
type history struct {
	// versions in increasing revision order; the last one is current.
	versions []version
	// expiry is the pending expiry of the current value, if it has a TTL.
	expiry *expiry
}

// version is a key's value from revision mod on, or its deletion.
type version struct {
	mod     int64
	create  int64
	value   []byte // owned by the store, never modified
	deleted bool
}

func (h *history) current() (version, bool) {
	v := h.versions[len(h.versions)-1]
	return v, !v.deleted
}

// at returns the version visible at revision rev.
func (h *history) at(rev int64) (version, bool) {
	if v := h.versions[len(h.versions)-1]; v.mod <= rev {
		return v, !v.deleted
	}
	i := sort.Search(len(h.versions), func(i int) bool { return h.versions[i].mod > rev })
	if i == 0 {
		return version{}, false
	}
	v := h.versions[i-1]
	return v, !v.deleted
}

func (v version) keyValue(key string) *store.KeyValue {
	return &store.KeyValue{Key: key, Value: bytes.Clone(v.value), CreateRevision: v.create, ModRevision: v.mod}
}

// record is one entry of the event log: the change made at one revision.
type record struct {
	key    string
	typ    store.EventType
	value  []byte // nil for a delete
	prev   []byte // nil for a create
	create int64  // 0 for a delete
}

// New returns an empty store at revision 1. It starts the goroutine that
// expires keys; Close stops it.
func New(opts Options) *Store {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	s := &Store{
		clock:    opts.Clock,
		done:     make(chan struct{}),
		rev:      1,
		keys:     map[string]*history{},
		sorted:   btree.NewOrderedG[string](32),
		logStart: 2,
		changed:  make(chan struct{}),
		kick:     make(chan struct{}, 1),
	}
	s.wg.Add(1)
	go s.runExpiry()
	return s
}

// begin checks what every call on key checks first: the context and the
// store.
func (s *Store) begin(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return store.NewKeyError(key, err)
	}
	if s.closed.Load() {
		return store.NewKeyError(key, store.ErrClosed)
	}
	return nil
}

// keyError attributes err to key unless it already is.
func keyError(key string, err error) error {
	var ke *store.KeyError
	if errors.As(err, &ke) && ke.Key == key {
		return err
	}
	return store.NewKeyError(key, err)
}

// Get returns the current value of key. It does not block.
func (s *Store) Get(ctx context.Context, key string) (*store.KeyValue, error) {
	if err := s.begin(ctx, key); err != nil {
		return nil, err
	}
	if err := store.ValidateKey(key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return nil, store.NewKeyError(key, store.ErrClosed)
	}
	if h := s.keys[key]; h != nil {
		if v, ok := h.current(); ok {
			return v.keyValue(key), nil
		}
	}
	return nil, store.NewKeyError(key, store.ErrNotFound)
}

// List returns the keys under prefix, at the current revision or at
// opts.Revision, one page of at most opts.Limit items at a time. It does not
// block.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) (*store.ListResult, error) {
	if err := s.begin(ctx, prefix); err != nil {
		return nil, err
	}
	rev, start, err := store.ResolveListOptions(prefix, opts)
	if err != nil {
		return nil, keyError(prefix, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return nil, store.NewKeyError(prefix, store.ErrClosed)
	}
	if rev == 0 {
		rev = s.rev
	}
	if err := s.checkReadRevisionLocked(rev); err != nil {
		return nil, store.NewKeyError(prefix, err)
	}

	res := &store.ListResult{Revision: rev}
	var last string
	s.sorted.AscendGreaterOrEqual(start, func(key string) bool {
		if !strings.HasPrefix(key, prefix) {
			return false
		}
		v, ok := s.keys[key].at(rev)
		if !ok {
			return true
		}
		if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
			res.Remaining++
			return true
		}
		res.Items = append(res.Items, v.keyValue(key))
		last = key
		return true
	})
	if res.Remaining > 0 {
		// The smallest key after last.
		res.Continue = store.EncodeContinue(prefix, rev, last+"\x00")
	}
	return res, nil
}

// checkReadRevisionLocked tells whether the state at rev can be read.
func (s *Store) checkReadRevisionLocked(rev int64) error {
	switch {
	case rev > s.rev:
		return fmt.Errorf("revision %d: %w (current revision %d)", rev, store.ErrFutureRevision, s.rev)
	case rev < s.compacted:
		return fmt.Errorf("revision %d: %w (compacted at %d)", rev, store.ErrCompacted, s.compacted)
	}
	return nil
}

// Create stores value at key if the key does not exist. It does not block.
func (s *Store) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (*store.KeyValue, error) {
	if err := s.begin(ctx, key); err != nil {
		return nil, err
	}
	if err := store.ValidateWrite(key, value, opts); err != nil {
		return nil, err
	}
	value = bytes.Clone(value)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, store.NewKeyError(key, store.ErrClosed)
	}
	h := s.keys[key]
	if h != nil {
		if _, ok := h.current(); ok {
			return nil, store.NewKeyError(key, store.ErrAlreadyExists)
		}
	} else {
		h = &history{}
		s.keys[key] = h
		s.sorted.ReplaceOrInsert(key)
	}
	rev := s.rev + 1
	v := version{mod: rev, create: rev, value: value}
	s.appendLocked(key, h, v, record{key: key, typ: store.EventCreate, value: value, create: rev})
	s.setTTLLocked(key, h, opts.TTL)
	return v.keyValue(key), nil
}

// Update replaces the value of an existing key, if its ModRevision is
// expectedRevision (or unconditionally when expectedRevision is 0). It does
// not block.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64, opts store.WriteOptions) (*store.KeyValue, error) {
	if err := s.begin(ctx, key); err != nil {
		return nil, err
	}
	if err := store.ValidateWrite(key, value, opts); err != nil {
		return nil, err
	}
	if err := store.ValidateRevision(expectedRevision); err != nil {
		return nil, store.NewKeyError(key, err)
	}
	value = bytes.Clone(value)
	s.mu.Lock()
	defer s.mu.Unlock()
	h, cur, err := s.checkWriteLocked(key, expectedRevision)
	if err != nil {
		return nil, err
	}
	rev := s.rev + 1
	v := version{mod: rev, create: cur.create, value: value}
	s.appendLocked(key, h, v, record{key: key, typ: store.EventUpdate, value: value, prev: cur.value, create: cur.create})
	s.setTTLLocked(key, h, opts.TTL)
	return v.keyValue(key), nil
}

// Delete removes key, if its ModRevision is expectedRevision (or
// unconditionally when expectedRevision is 0), and returns its last value as
// it was before the delete. It does not block.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (*store.KeyValue, error) {
	if err := s.begin(ctx, key); err != nil {
		return nil, err
	}
	if err := store.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := store.ValidateRevision(expectedRevision); err != nil {
		return nil, store.NewKeyError(key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, cur, err := s.checkWriteLocked(key, expectedRevision)
	if err != nil {
		return nil, err
	}
	s.deleteLocked(key, h, cur)
	return cur.keyValue(key), nil
}

// checkWriteLocked finds the current version of key for an Update or Delete
// expecting expectedRevision.
func (s *Store) checkWriteLocked(key string, expectedRevision int64) (*history, version, error) {
	if s.closed.Load() {
		return nil, version{}, store.NewKeyError(key, store.ErrClosed)
	}
	h := s.keys[key]
	if h == nil {
		return nil, version{}, store.NewKeyError(key, store.ErrNotFound)
	}
	cur, ok := h.current()
	if !ok {
		return nil, version{}, store.NewKeyError(key, store.ErrNotFound)
	}
	if expectedRevision != 0 && cur.mod != expectedRevision {
		return nil, version{}, store.NewKeyError(key, fmt.Errorf("%w: expected revision %d, key is at %d", store.ErrConflict, expectedRevision, cur.mod))
	}
	return h, cur, nil
}

// deleteLocked deletes the live key at a new revision.
func (s *Store) deleteLocked(key string, h *history, cur version) {
	rev := s.rev + 1
	s.appendLocked(key, h, version{mod: rev, deleted: true}, record{key: key, typ: store.EventDelete, prev: cur.value})
	s.setTTLLocked(key, h, 0)
}

// appendLocked makes the change v to key at the next revision and wakes the
// watchers.
func (s *Store) appendLocked(key string, h *history, v version, r record) {
	s.rev++
	h.versions = append(h.versions, v)
	s.log = append(s.log, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Compact discards the history before revision: the state at revision and
// later stays readable (by List, and by Watch after revision or later);
// older revisions fail with ErrCompacted, and watchers that have not yet
// reached revision end with an EventError. revision must be
// positive, not above the current revision, and above the last compaction.
// Compact holds the write lock for time linear in the number of keys.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	const name = "compact"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", name, store.ErrClosed)
	}
	if revision <= 0 {
		return fmt.Errorf("%s: %w: revision %d is not positive", name, store.ErrInvalid, revision)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed.Load():
		return fmt.Errorf("%s: %w", name, store.ErrClosed)
	case revision <= s.compacted:
		return fmt.Errorf("%s at revision %d: %w (already compacted at %d)", name, revision, store.ErrCompacted, s.compacted)
	case revision > s.rev:
		return fmt.Errorf("%s at revision %d: %w (current revision %d)", name, revision, store.ErrFutureRevision, s.rev)
	}
	s.compacted = revision

	// Watchers stand at revision or later, so the log keeps the changes
	// after revision. Copy them, so that the dropped part is freed.
	if n := revision + 1 - s.logStart; n > 0 {
		s.log = slices.Clone(s.log[n:])
		s.logStart = revision + 1
	}

	// Each key keeps the versions at revision and later, plus the one
	// visible at revision unless that is a deletion.
	for key, h := range s.keys {
		i := sort.Search(len(h.versions), func(i int) bool { return h.versions[i].mod > revision })
		keep := max(i-1, 0)
		if i > 0 && h.versions[i-1].deleted {
			keep = i
		}
		if keep == 0 {
			continue
		}
		if keep == len(h.versions) {
			delete(s.keys, key)
			s.sorted.Delete(key)
			continue
		}
		h.versions = slices.Clone(h.versions[keep:])
	}
	return nil
}

// Close ends all watches (their channels close), stops the expiry goroutine
// and makes every later call fail with ErrClosed. It waits for the store's
// goroutines to exit. Calling it again does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	close(s.done)
	s.mu.Unlock()

	s.wg.Wait()

	s.mu.Lock()
	s.keys, s.sorted, s.log, s.expiries = nil, nil, nil, nil
	s.mu.Unlock()
	return nil
}

// Revision returns the current revision: 1 on a fresh store, then the
// revision of the last write (including expiries). It is not part of
// store.Store (which reads it from ListResult.Revision); tests and
// simulations use it.
func (s *Store) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// setTTLLocked replaces the pending expiry of key with one ttl from now (none
// when ttl is 0).
func (s *Store) setTTLLocked(key string, h *history, ttl time.Duration) {
	if h.expiry == nil && ttl == 0 {
		return
	}
	if h.expiry != nil {
		heap.Remove(&s.expiries, h.expiry.index)
		h.expiry = nil
	}
	if ttl > 0 {
		h.expiry = &expiry{key: key, at: s.clock.Now().Add(ttl)}
		heap.Push(&s.expiries, h.expiry)
	}
	s.armLocked()
}
