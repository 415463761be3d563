package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
)

// testBasics: Create, Get, Update and Delete, their revisions, and their
// sentinel errors.
func testBasics(t *testing.T, h *harness) {
	ctx := h.ctx
	a, b := h.key("a"), h.key("b")
	rev0 := h.rev()

	// Missing keys.
	_, err := h.s.Get(ctx, a)
	requireErrorNames(t, err, store.ErrNotFound, a)
	_, err = h.s.Update(ctx, a, []byte("x"), 0, store.WriteOptions{})
	requireErrorNames(t, err, store.ErrNotFound, a)
	_, err = h.s.Update(ctx, a, []byte("x"), rev0, store.WriteOptions{})
	requireErrorNames(t, err, store.ErrNotFound, a)
	_, err = h.s.Delete(ctx, a, 0)
	requireErrorNames(t, err, store.ErrNotFound, a)
	_, err = h.s.Delete(ctx, a, rev0)
	requireErrorNames(t, err, store.ErrNotFound, a)

	// Create.
	created, err := h.s.Create(ctx, a, []byte("v1"), store.WriteOptions{})
	require.NoError(t, err)
	require.Greater(t, created.ModRevision, rev0, "a write must move the revision forward")
	requireKV(t, created, a, "v1", created.ModRevision, created.ModRevision)
	requireKV(t, h.get(a), a, "v1", created.ModRevision, created.ModRevision)
	require.Equal(t, created.ModRevision, h.rev(), "the current revision is the last write's")

	_, err = h.s.Create(ctx, a, []byte("v2"), store.WriteOptions{})
	requireErrorNames(t, err, store.ErrAlreadyExists, a)
	requireKV(t, h.get(a), a, "v1", created.ModRevision, created.ModRevision)

	// Update guarded by the current revision.
	updated, err := h.s.Update(ctx, a, []byte("v2"), created.ModRevision, store.WriteOptions{})
	require.NoError(t, err)
	require.Greater(t, updated.ModRevision, created.ModRevision)
	requireKV(t, updated, a, "v2", created.ModRevision, updated.ModRevision)
	requireKV(t, h.get(a), a, "v2", created.ModRevision, updated.ModRevision)

	// Stale revisions conflict and change nothing.
	_, err = h.s.Update(ctx, a, []byte("v3"), created.ModRevision, store.WriteOptions{})
	requireErrorNames(t, err, store.ErrConflict, a)
	_, err = h.s.Delete(ctx, a, created.ModRevision)
	requireErrorNames(t, err, store.ErrConflict, a)
	requireKV(t, h.get(a), a, "v2", created.ModRevision, updated.ModRevision)

	// Revision 0 is unconditional.
	forced, err := h.s.Update(ctx, a, []byte("v3"), 0, store.WriteOptions{})
	require.NoError(t, err)
	require.Greater(t, forced.ModRevision, updated.ModRevision)
	requireKV(t, forced, a, "v3", created.ModRevision, forced.ModRevision)

	// An empty value is a value.
	bkv, err := h.s.Create(ctx, b, []byte{}, store.WriteOptions{})
	require.NoError(t, err)
	require.Empty(t, h.get(b).Value)

	// Delete returns the value as it was before the delete.
	deleted, err := h.s.Delete(ctx, a, forced.ModRevision)
	require.NoError(t, err)
	requireKV(t, deleted, a, "v3", created.ModRevision, forced.ModRevision)
	h.requireNotFound(a)
	_, err = h.s.Delete(ctx, a, 0)
	requireErrorNames(t, err, store.ErrNotFound, a)
	_, err = h.s.Update(ctx, a, []byte("v4"), forced.ModRevision, store.WriteOptions{})
	requireErrorNames(t, err, store.ErrNotFound, a)

	deletedB, err := h.s.Delete(ctx, b, 0)
	require.NoError(t, err)
	requireKV(t, deletedB, b, "", bkv.ModRevision, bkv.ModRevision)
	afterDeletes := h.rev()
	require.Greater(t, afterDeletes, bkv.ModRevision, "deletes move the revision forward")

	// A key created again is a new key.
	again, err := h.s.Create(ctx, a, []byte("v5"), store.WriteOptions{})
	require.NoError(t, err)
	require.Greater(t, again.ModRevision, afterDeletes)
	requireKV(t, again, a, "v5", again.ModRevision, again.ModRevision)

	items, _ := h.list(h.prefix, 0)
	requireItems(t, items, a+"=v5")
}

// testCopies: callers cannot change the store's state through the slices
// they pass in or get back.
func testCopies(t *testing.T, h *harness) {
	ctx := h.ctx
	k := h.key("k")
	rev0 := h.rev()
	w1, w2 := h.watch(h.prefix, rev0), h.watch(h.prefix, rev0)

	in := []byte("v1")
	kv, err := h.s.Create(ctx, k, in, store.WriteOptions{})
	require.NoError(t, err)
	in[0] = 'X'
	kv.Value[0] = 'Y'
	require.Equal(t, "v1", string(h.get(k).Value), "after changing Create's input and result")

	got := h.get(k)
	got.Value[0] = 'Z'
	require.Equal(t, "v1", string(h.get(k).Value), "after changing Get's result")

	items, _ := h.list(h.prefix, 0)
	items[0].Value[0] = 'Z'
	require.Equal(t, "v1", string(h.get(k).Value), "after changing List's result")

	in = []byte("v2")
	kv, err = h.s.Update(ctx, k, in, 0, store.WriteOptions{})
	require.NoError(t, err)
	in[0] = 'X'
	kv.Value[0] = 'Y'
	require.Equal(t, "v2", string(h.get(k).Value), "after changing Update's input and result")

	for _, ev := range recvN(t, w1, 2) {
		ev.Value[0] = 'W'
		if ev.PrevValue != nil {
			ev.PrevValue[0] = 'W'
		}
	}
	evs := recvN(t, w2, 2)
	require.Equal(t, "v1", string(evs[0].Value), "after another watcher changed its event")
	require.Equal(t, "v2", string(evs[1].Value), "after another watcher changed its event")
	require.Equal(t, "v1", string(evs[1].PrevValue), "after another watcher changed its event")
	require.Equal(t, "v2", string(h.get(k).Value), "after a watcher changed its events")
}

// testCASContention: concurrent read-modify-write loops lose no update.
func testCASContention(t *testing.T, h *harness) {
	const (
		workers    = 8
		increments = 50
		maxRetries = 100000
	)
	ctx := h.ctx
	key := h.key("counter")
	start := h.create(key, "0")
	w := h.watch(h.prefix, start.Revision)

	var conflicts atomic.Int64
	increment := func() error {
		for range maxRetries {
			kv, err := h.s.Get(ctx, key)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(kv.Value))
			if err != nil {
				return fmt.Errorf("counter value %q: %w", kv.Value, err)
			}
			_, err = h.s.Update(ctx, key, []byte(strconv.Itoa(n+1)), kv.ModRevision, store.WriteOptions{})
			if errors.Is(err, store.ErrConflict) {
				conflicts.Add(1)
				continue
			}
			return err
		}
		return fmt.Errorf("still conflicting after %d attempts", maxRetries)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range increments {
				if err := increment(); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, strconv.Itoa(workers*increments), string(h.get(key).Value), "lost updates")
	t.Logf("%d conflicts retried", conflicts.Load())

	// The history is exactly 1, 2, ..., 400.
	evs := recvN(t, w, workers*increments)
	for i, ev := range evs {
		require.Equal(t, store.EventUpdate, ev.Type, "event %d: %s", i, describe(ev))
		require.Equal(t, strconv.Itoa(i+1), string(ev.Value), "event %d: %s", i, describe(ev))
		require.Equal(t, strconv.Itoa(i), string(ev.PrevValue), "event %d: %s", i, describe(ev))
		require.Equal(t, start.Revision, ev.CreateRevision, "event %d: %s", i, describe(ev))
	}
}
