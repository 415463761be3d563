package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gantryhq/gantry/store"
)

// watchBuffer is the capacity of a watch channel: how many events the Store
// reads ahead of a slow consumer.
const watchBuffer = 100

// Store is a store.Store backed by etcd v3. It is safe for concurrent use.
// Create it with New; Close it when done.
type Store struct {
	client *clientv3.Client
	owned  bool   // the Store created client and closes it
	prefix string // Options.Prefix, prepended to every key
	leases *leaseCache

	closed  atomic.Bool
	ctx     context.Context // canceled by Close: ends the watches
	cancel  context.CancelFunc
	mu      sync.Mutex     // orders watches.Add before Close's Wait
	watches sync.WaitGroup // one per watch goroutine

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// New returns a Store on the etcd cluster described by opts. With
// opts.Endpoints it creates a client, which waits up to opts.DialTimeout for
// a first connection and fails if none can be made; with opts.Client it
// wraps that client and makes no RPC.
func New(opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	client, owned := opts.Client, false
	if client == nil {
		timeout := opts.DialTimeout
		if timeout == 0 {
			timeout = DefaultDialTimeout
		}
		lg := opts.Logger
		if lg == nil {
			lg = quietLogger()
		}
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   opts.Endpoints,
			DialTimeout: timeout,
			TLS:         opts.TLS,
			Logger:      lg,
		})
		if err != nil {
			return nil, fmt.Errorf("etcd: connect to %v: %w", opts.Endpoints, err)
		}
		client, owned = c, true
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{
		client: client,
		owned:  owned,
		prefix: opts.Prefix,
		leases: newLeaseCache(client.Lease, !opts.DisableLeaseReuse),
		ctx:    ctx,
		cancel: cancel,
	}, nil
}

// Client returns the etcd client the Store uses, for health checks and
// maintenance calls. It bypasses Options.Prefix. Do not close it.
func (s *Store) Client() *clientv3.Client { return s.client }

// Close ends the watches, waits for their goroutines, and closes the client
// if the Store created it. Later calls do nothing and return nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		s.mu.Unlock()
		s.cancel()
		s.watches.Wait()
		if s.owned {
			if cerr := s.client.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
				err = fmt.Errorf("etcd: close client: %w", cerr)
			}
		}
	})
	return err
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (*store.KeyValue, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := s.checkOpen(key); err != nil {
		return nil, err
	}
	resp, err := s.client.Get(ctx, s.prefix+key)
	if err != nil {
		return nil, s.wrap(key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, store.NewKeyError(key, store.ErrNotFound)
	}
	return s.keyValue(resp.Kvs[0]), nil
}

// List implements store.Store. A page is one range request; later pages are
// read at the revision of the first, which fails with ErrCompacted once that
// revision has been compacted.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) (*store.ListResult, error) {
	rev, start, err := store.ResolveListOptions(prefix, opts)
	if err != nil {
		return nil, keyError(prefix, err)
	}
	if err := s.checkOpen(prefix); err != nil {
		return nil, err
	}
	ops := []clientv3.OpOption{clientv3.WithRange(s.prefix + store.PrefixEnd(prefix))}
	if rev > 0 {
		ops = append(ops, clientv3.WithRev(rev))
	}
	if opts.Limit > 0 {
		ops = append(ops, clientv3.WithLimit(opts.Limit))
	}
	resp, err := s.client.Get(ctx, s.prefix+start, ops...)
	if err != nil {
		return nil, s.wrap(prefix, err)
	}
	res := &store.ListResult{Revision: rev}
	if rev == 0 {
		// With WithRev the header carries the current revision, not the one
		// read at; without it they are the same.
		res.Revision = resp.Header.Revision
	}
	if len(resp.Kvs) > 0 { // an empty list has nil Items, as in store/memory
		res.Items = make([]*store.KeyValue, len(resp.Kvs))
		for i, kv := range resp.Kvs {
			res.Items[i] = s.keyValue(kv)
		}
	}
	if resp.More && len(res.Items) > 0 {
		last := res.Items[len(res.Items)-1].Key
		res.Continue = store.EncodeContinue(prefix, res.Revision, last+"\x00")
		res.Remaining = resp.Count - int64(len(resp.Kvs))
	}
	return res, nil
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key string, value []byte, opts store.WriteOptions) (*store.KeyValue, error) {
	if err := store.ValidateWrite(key, value, opts); err != nil {
		return nil, err
	}
	if err := s.checkOpen(key); err != nil {
		return nil, err
	}
	k := s.prefix + key
	return s.write(ctx, key, opts.TTL, func(putOpts ...clientv3.OpOption) (*store.KeyValue, error) {
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, string(value), putOpts...)).
			Commit()
		if err != nil {
			return nil, err
		}
		if !resp.Succeeded {
			return nil, store.ErrAlreadyExists
		}
		rev := resp.Header.Revision
		return &store.KeyValue{Key: key, Value: bytes.Clone(value), CreateRevision: rev, ModRevision: rev}, nil
	})
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64, opts store.WriteOptions) (*store.KeyValue, error) {
	if err := store.ValidateWrite(key, value, opts); err != nil {
		return nil, err
	}
	if err := store.ValidateRevision(expectedRevision); err != nil {
		return nil, store.NewKeyError(key, err)
	}
	if err := s.checkOpen(key); err != nil {
		return nil, err
	}
	k := s.prefix + key
	return s.write(ctx, key, opts.TTL, func(putOpts ...clientv3.OpOption) (*store.KeyValue, error) {
		putOpts = append(putOpts, clientv3.WithPrevKV())
		resp, err := s.guarded(ctx, k, expectedRevision, clientv3.OpPut(k, string(value), putOpts...))
		if err != nil {
			return nil, err
		}
		kv := &store.KeyValue{Key: key, Value: bytes.Clone(value), ModRevision: resp.Header.Revision}
		if prev := resp.Responses[0].GetResponsePut().GetPrevKv(); prev != nil {
			kv.CreateRevision = prev.CreateRevision
		}
		return kv, nil
	})
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (*store.KeyValue, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := store.ValidateRevision(expectedRevision); err != nil {
		return nil, store.NewKeyError(key, err)
	}
	if err := s.checkOpen(key); err != nil {
		return nil, err
	}
	k := s.prefix + key
	if expectedRevision == 0 {
		resp, err := s.client.Delete(ctx, k, clientv3.WithPrevKV())
		if err != nil {
			return nil, s.wrap(key, err)
		}
		if len(resp.PrevKvs) == 0 {
			return nil, store.NewKeyError(key, store.ErrNotFound)
		}
		return s.keyValue(resp.PrevKvs[0]), nil
	}
	resp, err := s.guarded(ctx, k, expectedRevision, clientv3.OpDelete(k, clientv3.WithPrevKV()))
	if err != nil {
		return nil, s.wrap(key, err)
	}
	prev := resp.Responses[0].GetResponseDeleteRange().GetPrevKvs()
	if len(prev) == 0 { // cannot happen: the compare saw the key
		return nil, store.NewKeyError(key, store.ErrNotFound)
	}
	return s.keyValue(prev[0]), nil
}

// guarded runs op on etcd key k if the key exists and, when expected is not
// zero, was last modified at revision expected. Otherwise it returns
// ErrNotFound or ErrConflict.
func (s *Store) guarded(ctx context.Context, k string, expected int64, op clientv3.Op) (*clientv3.TxnResponse, error) {
	if expected == 0 {
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), ">", 0)).
			Then(op).
			Commit()
		if err != nil {
			return nil, err
		}
		if !resp.Succeeded {
			return nil, store.ErrNotFound
		}
		return resp, nil
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", expected)).
		Then(op).
		Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("%w: expected revision %d, current %d", store.ErrConflict, expected, kvs[0].ModRevision)
	}
	return resp, nil
}

// write runs a put with the lease for ttl (none when ttl is zero), retrying
// once with a fresh lease if the shared one has gone.
func (s *Store) write(ctx context.Context, key string, ttl time.Duration, put func(...clientv3.OpOption) (*store.KeyValue, error)) (*store.KeyValue, error) {
	if ttl <= 0 {
		kv, err := put()
		return kv, s.wrap(key, err)
	}
	seconds := ttlSeconds(ttl)
	for attempt := 0; ; attempt++ {
		id, shared, err := s.leases.get(ctx, seconds)
		if err != nil {
			return nil, s.wrap(key, fmt.Errorf("grant lease of %ds: %w", seconds, err))
		}
		kv, err := put(clientv3.WithLease(id))
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
			s.leases.forget(id)
			continue
		}
		if err != nil {
			s.leases.release(id, shared)
		}
		return kv, s.wrap(key, err)
	}
}

// Watch implements store.Store. It makes one read first: with an
// afterRevision of 0 to learn the current revision, so that every write that
// starts after Watch returns is seen; otherwise to fail at once with
// ErrCompacted when afterRevision is below the last compaction. A compaction
// that overtakes the watch later ends it with an EventError wrapping
// store.ErrCompacted, also when etcd would deliver an event without its
// previous value.
//
// The watch requires a leader: on a member cut off from the majority it ends
// with an EventError instead of hanging. While no member can be reached, the
// channel stays open and quiet; clientv3 reconnects and resumes where it was.
func (s *Store) Watch(ctx context.Context, prefix string, afterRevision int64) (<-chan store.Event, error) {
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if err := store.ValidateRevision(afterRevision); err != nil {
		return nil, store.NewKeyError(prefix, err)
	}
	if err := s.checkOpen(prefix); err != nil {
		return nil, err
	}

	// A single-key count-only read is cheap whatever the size of prefix.
	if afterRevision == 0 {
		resp, err := s.client.Get(ctx, s.prefix+prefix, clientv3.WithCountOnly())
		if err != nil {
			return nil, s.wrap(prefix, err)
		}
		afterRevision = resp.Header.Revision
	} else {
		// The watch starts from the state at afterRevision: it must be
		// readable (the first event's previous value comes from it).
		_, err := s.client.Get(ctx, s.prefix+prefix, clientv3.WithCountOnly(), clientv3.WithRev(afterRevision))
		if err != nil && !errors.Is(err, rpctypes.ErrFutureRev) {
			return nil, s.wrap(prefix, fmt.Errorf("watch after revision %d: %w", afterRevision, err))
		}
	}

	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, store.NewKeyError(prefix, store.ErrClosed)
	}
	s.watches.Add(1)
	s.mu.Unlock()
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	out := make(chan store.Event, watchBuffer)
	go func() {
		defer s.watches.Done()
		defer close(out)
		defer stop()
		defer cancel()
		s.forward(ctx, wctx, prefix, afterRevision+1, out)
	}()
	return out, nil
}

// watchLeaderGrace is how long a watch waits for a new leader before it
// fails with the "no leader" error: long enough for an election, short
// enough to notice a member cut off from the majority.
const watchLeaderGrace = 15 * time.Second

// forward runs the etcd watch of prefix from revision next and copies its
// events to out, until the watch fails, ctx is done or the store is closed.
// It never blocks on out once ctx is done or the store closed. When the
// member loses its leader it watches again from where it was, for up to
// watchLeaderGrace, so that an election does not end the watch.
func (s *Store) forward(ctx, wctx context.Context, prefix string, next int64, out chan<- store.Event) {
	stopped := func() bool { return ctx.Err() != nil || s.ctx.Err() != nil }
	send := func(ev store.Event) bool {
		select {
		case out <- ev:
			return true
		case <-wctx.Done():
			return false
		case <-s.ctx.Done():
			return false
		}
	}
	fail := func(err error) {
		if !stopped() {
			send(store.Event{Type: store.EventError, Key: prefix, Err: keyError(prefix, err)})
		}
	}

	var leaderLost time.Time // when the watch first failed for want of a leader
	backoff := 50 * time.Millisecond
	for {
		err := s.watchOnce(wctx, prefix, &next, send, func() { leaderLost = time.Time{} })
		if err == nil || stopped() {
			return
		}
		if !errors.Is(err, rpctypes.ErrNoLeader) {
			fail(s.translate(err))
			return
		}
		if leaderLost.IsZero() {
			leaderLost = time.Now()
			backoff = 50 * time.Millisecond
		}
		if time.Since(leaderLost) > watchLeaderGrace {
			fail(s.translate(err))
			return
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-wctx.Done():
		case <-s.ctx.Done():
		}
		timer.Stop()
		backoff = min(2*backoff, time.Second)
	}
}

// watchOnce runs one etcd watch from *next, advancing *next past every event
// sent. It calls healthy on every good response. It returns nil when it
// stopped because ctx is done or send refused, and the error that ended the
// watch otherwise.
func (s *Store) watchOnce(ctx context.Context, prefix string, next *int64, send func(store.Event) bool, healthy func()) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.client.Watch(wctx, s.prefix+prefix,
		clientv3.WithRange(s.prefix+store.PrefixEnd(prefix)),
		clientv3.WithPrevKV(),
		clientv3.WithCreatedNotify(),
		clientv3.WithRev(*next))
	for resp := range wch {
		for _, ev := range resp.Events {
			if ev.PrevKv == nil && !ev.IsCreate() {
				// etcd leaves PrevKv out when the previous value has been
				// compacted: the watch has fallen behind a compaction.
				return fmt.Errorf("%w: the value before revision %d is gone", store.ErrCompacted, ev.Kv.ModRevision)
			}
			if !send(s.event(ev)) {
				return nil
			}
			*next = ev.Kv.ModRevision + 1
		}
		if err := resp.Err(); err != nil {
			return err
		}
		healthy()
	}
	if ctx.Err() != nil {
		return nil
	}
	// Closed with no error response and the context alive: the client was
	// closed under the Store.
	return fmt.Errorf("%w: etcd client closed", store.ErrClosed)
}

// Compact implements store.Store. The compaction is applied to etcd's
// keyspace before it returns (physical compaction of the backend database
// happens in the background).
func (s *Store) Compact(ctx context.Context, revision int64) error {
	if err := store.ValidateRevision(revision); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	if revision == 0 {
		return fmt.Errorf("compact: %w: revision 0", store.ErrInvalid)
	}
	if s.closed.Load() {
		return fmt.Errorf("compact at revision %d: %w", revision, store.ErrClosed)
	}
	if _, err := s.client.Compact(ctx, revision); err != nil {
		return fmt.Errorf("compact at revision %d: %w", revision, s.translate(err))
	}
	return nil
}

// checkOpen returns ErrClosed for key once the Store is closed.
func (s *Store) checkOpen(key string) error {
	if s.closed.Load() {
		return store.NewKeyError(key, store.ErrClosed)
	}
	return nil
}

// wrap translates an error of an operation on key; nil stays nil.
func (s *Store) wrap(key string, err error) error {
	if err == nil {
		return nil
	}
	return keyError(key, s.translate(err))
}

// keyError attributes err to key unless it already names a key.
func keyError(key string, err error) error {
	var ke *store.KeyError
	if errors.As(err, &ke) {
		return err
	}
	return store.NewKeyError(key, err)
}

// translate maps etcd client errors to the sentinel errors of package store,
// keeping the original in the chain.
func (s *Store) translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrClosed):
		return err
	case s.closed.Load():
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: %w", store.ErrCompacted, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: %w", store.ErrFutureRevision, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrTooManyOps),
		errors.Is(err, rpctypes.ErrEmptyKey), errors.Is(err, rpctypes.ErrKeyNotFound):
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	case status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "larger than max"):
		// The client refused to send a message over its size limit.
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	}
	return err
}

// keyValue converts an etcd key/value, removing the key prefix.
func (s *Store) keyValue(kv *mvccpb.KeyValue) *store.KeyValue {
	return &store.KeyValue{
		Key:            string(kv.Key[len(s.prefix):]),
		Value:          nonNil(kv.Value),
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
	}
}

// event converts an etcd watch event.
func (s *Store) event(ev *clientv3.Event) store.Event {
	e := store.Event{Key: string(ev.Kv.Key[len(s.prefix):]), Revision: ev.Kv.ModRevision}
	switch {
	case ev.Type == clientv3.EventTypeDelete:
		e.Type = store.EventDelete
	case ev.IsCreate():
		e.Type = store.EventCreate
		e.Value = nonNil(ev.Kv.Value)
		e.CreateRevision = ev.Kv.CreateRevision
		return e
	default:
		e.Type = store.EventUpdate
		e.Value = nonNil(ev.Kv.Value)
		e.CreateRevision = ev.Kv.CreateRevision
	}
	if ev.PrevKv != nil {
		e.PrevValue = nonNil(ev.PrevKv.Value)
	}
	return e
}

// nonNil returns b, or an empty slice for nil: etcd does not tell an empty
// value from a missing one, the store does.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
