package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
)

// testCompaction: after Compact(rev), reads, continues and watches at
// revisions before rev fail with ErrCompacted (a watch after rev-1 too: it
// starts from the state at rev-1), the state at rev and later stays, and
// compacting again at or below rev fails.
func testCompaction(t *testing.T, h *harness) {
	a, b := h.key("a"), h.key("b")
	ca := h.create(a, "a1")
	ua := h.update(a, "a2", "a1")
	cb := h.create(b, "b1")
	page, err := h.s.List(h.ctx, h.prefix, store.ListOptions{Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page.Continue)
	ub := h.update(b, "b2", "b1")

	require.NoError(t, h.s.Compact(h.ctx, ub.Revision))

	for _, rev := range []int64{ca.Revision, ua.Revision, cb.Revision, ub.Revision - 1} {
		_, err := h.s.List(h.ctx, h.prefix, store.ListOptions{Revision: rev})
		require.ErrorIs(t, err, store.ErrCompacted, "list at %d after compacting at %d", rev, ub.Revision)
	}
	_, err = h.s.List(h.ctx, h.prefix, store.ListOptions{Limit: 1, Continue: page.Continue})
	require.ErrorIs(t, err, store.ErrCompacted, "continue a list read at %d after compacting at %d", page.Revision, ub.Revision)

	// A watch starts from the state at its revision, which must be
	// readable: the update at ub.Revision would lack its PrevValue.
	for _, after := range []int64{ca.Revision - 1, ca.Revision, ub.Revision - 1} {
		require.ErrorIs(t, h.watchError(h.prefix, after), store.ErrCompacted, "watch after %d, compacted at %d", after, ub.Revision)
	}

	// The state at the compaction revision and the current state remain.
	items, _ := h.list(h.prefix, ub.Revision)
	requireItems(t, items, a+"=a2", b+"=b2")
	items, _ = h.list(h.prefix, 0)
	requireItems(t, items, a+"=a2", b+"=b2")
	requireKV(t, h.get(a), a, "a2", ca.Revision, ua.Revision)

	// Watching from the compaction revision on works.
	w := h.watch(h.prefix, ub.Revision)
	next := h.update(a, "a3", "a2")
	requireEvents(t, []store.Event{next}, recvN(t, w, 1))

	// Compaction only moves forward, and not past the present.
	for _, rev := range []int64{ub.Revision, ua.Revision} {
		err := h.s.Compact(h.ctx, rev)
		require.ErrorIs(t, err, store.ErrCompacted, "compact at %d after compacting at %d", rev, ub.Revision)
	}
	err = h.s.Compact(h.ctx, h.rev()+1_000_000)
	require.ErrorIs(t, err, store.ErrFutureRevision, "compact in the future")
	require.NoError(t, h.s.Compact(h.ctx, next.Revision))
}

// testCompactionOvertakesWatch: a watcher that does not read while the
// history it has yet to see is compacted either still gets every event
// (a store that buffers them) or ends with an EventError wrapping
// ErrCompacted; it never skips events.
func testCompactionOvertakesWatch(t *testing.T, h *harness) {
	const n = 2000
	k := h.key("k")
	start := h.create(k, "0")
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	w, err := h.s.Watch(ctx, h.prefix, start.Revision)
	require.NoError(t, err)

	want := make([]store.Event, 0, n)
	for i := 1; i <= n; i++ {
		want = append(want, h.update(k, fmt.Sprint(i), fmt.Sprint(i-1)))
	}
	require.NoError(t, h.s.Compact(h.ctx, want[n-1].Revision))

	var got []store.Event
	timer := time.NewTimer(bulkTimeout)
	defer timer.Stop()
	for len(got) < n {
		select {
		case ev, ok := <-w:
			require.True(t, ok, "watch closed after %d of %d events without an error", len(got), n)
			if ev.Type == store.EventError {
				require.ErrorIs(t, ev.Err, store.ErrCompacted)
				requireEvents(t, want[:len(got)], got)
				require.Empty(t, requireClosed(t, w), "events after EventError")
				t.Logf("the watch was overtaken after %d of %d events", len(got), n)
				return
			}
			if !sameEvent(want[len(got)], ev) {
				t.Fatalf("watch event %d of %d:\n got  %s\n want %s", len(got), n, describe(ev), describe(want[len(got)]))
			}
			got = append(got, ev)
		case <-timer.C:
			t.Fatalf("got %d of %d events within %v", len(got), n, bulkTimeout)
		}
	}
	requireEvents(t, want, got)
	t.Logf("the watch delivered all %d events despite the compaction", n)
	// It is still live.
	last := h.update(k, "last", fmt.Sprint(n))
	requireEvents(t, []store.Event{last}, recvN(t, w, 1))
}

// testTTL: a key written with a TTL expires, as a delete that watchers see;
// an update without TTL makes a key permanent.
func testTTL(t *testing.T, h *harness) {
	const ttl = 2 * time.Second
	k, keep := h.key("k"), h.key("keep")
	rev0 := h.rev()
	w := h.watch(h.prefix, rev0)

	ck, err := h.s.Create(h.ctx, keep, []byte("k1"), store.WriteOptions{TTL: ttl})
	require.NoError(t, err)
	uk, err := h.s.Update(h.ctx, keep, []byte("k2"), ck.ModRevision, store.WriteOptions{})
	require.NoError(t, err)
	created, err := h.s.Create(h.ctx, k, []byte("v"), store.WriteOptions{TTL: ttl})
	require.NoError(t, err)
	requireKV(t, created, k, "v", created.ModRevision, created.ModRevision)
	requireKV(t, h.get(k), k, "v", created.ModRevision, created.ModRevision)

	gone := func() bool {
		_, err := h.s.Get(h.ctx, k)
		return isErr(err, store.ErrNotFound)
	}
	if h.advance != nil {
		h.advance(ttl / 2)
		requireKV(t, h.get(k), k, "v", created.ModRevision, created.ModRevision)
		h.advance(ttl / 2)
		eventually(t, eventTimeout, "the key to expire after its TTL on the store's clock", gone)
	} else {
		eventually(t, ttlTimeout, fmt.Sprintf("the key to expire after %v", ttl), gone)
	}

	evs := recvN(t, w, 4)
	requireEvents(t, []store.Event{
		{Type: store.EventCreate, Key: keep, Value: []byte("k1"), Revision: ck.ModRevision, CreateRevision: ck.ModRevision},
		{Type: store.EventUpdate, Key: keep, Value: []byte("k2"), PrevValue: []byte("k1"), Revision: uk.ModRevision, CreateRevision: ck.ModRevision},
		{Type: store.EventCreate, Key: k, Value: []byte("v"), Revision: created.ModRevision, CreateRevision: created.ModRevision},
		{Type: store.EventDelete, Key: k, PrevValue: []byte("v")},
	}, evs)
	requireKV(t, h.get(keep), keep, "k2", ck.ModRevision, uk.ModRevision)
	items, _ := h.list(h.prefix, 0)
	requireItems(t, items, keep+"=k2")
	_, err = h.s.Update(h.ctx, k, []byte("x"), created.ModRevision, store.WriteOptions{})
	require.ErrorIs(t, err, store.ErrNotFound, "update of an expired key")
}

// testContextCancel: calls with a canceled context fail with
// context.Canceled and change nothing; canceling a watch's context closes
// its channel.
func testContextCancel(t *testing.T, h *harness) {
	k := h.key("k")
	existing := h.create(k, "v")
	canceled, cancel := context.WithCancel(h.ctx)
	cancel()

	for _, tc := range []struct {
		name string
		call func(t *testing.T, ctx context.Context) error
	}{
		{"Get", func(t *testing.T, ctx context.Context) error { _, err := h.s.Get(ctx, k); return err }},
		{"List", func(t *testing.T, ctx context.Context) error {
			_, err := h.s.List(ctx, h.prefix, store.ListOptions{})
			return err
		}},
		{"Create", func(t *testing.T, ctx context.Context) error {
			_, err := h.s.Create(ctx, h.key("new"), []byte("x"), store.WriteOptions{})
			return err
		}},
		{"Update", func(t *testing.T, ctx context.Context) error {
			_, err := h.s.Update(ctx, k, []byte("x"), 0, store.WriteOptions{})
			return err
		}},
		{"Delete", func(t *testing.T, ctx context.Context) error { _, err := h.s.Delete(ctx, k, 0); return err }},
		{"Watch", func(t *testing.T, ctx context.Context) error {
			w, err := h.s.Watch(ctx, h.prefix, 0)
			if err == nil {
				// Also fine: a watch that ends at once.
				require.Empty(t, requireClosed(t, w))
				return ctx.Err()
			}
			return err
		}},
		{"Compact", func(t *testing.T, ctx context.Context) error { return h.s.Compact(ctx, existing.Revision) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.call(t, canceled), context.Canceled)
		})
	}
	items, _ := h.list(h.prefix, 0)
	requireItems(t, items, k+"=v")
	requireKV(t, h.get(k), k, "v", existing.Revision, existing.Revision)
	_, err := h.s.List(h.ctx, h.prefix, store.ListOptions{Revision: existing.Revision})
	require.NoError(t, err, "Compact with a canceled context compacted")

	t.Run("watch ends", func(t *testing.T) {
		for _, pending := range []int{0, 500} {
			ctx, cancel := context.WithCancel(h.ctx)
			w, err := h.s.Watch(ctx, h.prefix, h.rev())
			require.NoError(t, err)
			for i := range pending {
				h.update(k, fmt.Sprint(i), "")
			}
			cancel()
			require.LessOrEqual(t, len(requireClosed(t, w)), pending)
		}
	})
}

// testClosed: after Close, open watches end and every call fails with
// ErrClosed; Close again is harmless.
func testClosed(t *testing.T, h *harness) {
	k := h.key("k")
	existing := h.create(k, "v")
	w := h.watch(h.prefix, existing.Revision)
	require.NoError(t, h.s.Close())
	require.Empty(t, requireClosed(t, w), "events after Close")
	require.NoError(t, h.s.Close(), "second Close")

	ctx := h.ctx
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := h.s.Get(ctx, k); return err }},
		{"List", func() error { _, err := h.s.List(ctx, h.prefix, store.ListOptions{}); return err }},
		{"Create", func() error {
			_, err := h.s.Create(ctx, h.key("new"), []byte("x"), store.WriteOptions{})
			return err
		}},
		{"Update", func() error { _, err := h.s.Update(ctx, k, []byte("x"), 0, store.WriteOptions{}); return err }},
		{"Delete", func() error { _, err := h.s.Delete(ctx, k, 0); return err }},
		{"Watch", func() error { _, err := h.s.Watch(ctx, h.prefix, 0); return err }},
		{"Compact", func() error { return h.s.Compact(ctx, existing.Revision) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.call(), store.ErrClosed)
		})
	}
}

// testBadInput: malformed requests fail with ErrInvalid (or
// ErrFutureRevision for a revision not yet reached) and write nothing.
func testBadInput(t *testing.T, h *harness) {
	ok := h.key("ok")
	existing := h.create(ok, "v")
	ctx := h.ctx
	future := h.rev() + 1_000_000
	otherToken := store.EncodeContinue(h.prefix+"other/", existing.Revision, h.prefix+"other/x")
	ttl := store.WriteOptions{TTL: -time.Second}
	none := store.WriteOptions{}

	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"Get empty key", func() error { _, err := h.s.Get(ctx, ""); return err }, store.ErrInvalid},
		{"Get relative key", func() error { _, err := h.s.Get(ctx, "storetest/x"); return err }, store.ErrInvalid},
		{"Create empty key", func() error { _, err := h.s.Create(ctx, "", []byte("x"), none); return err }, store.ErrInvalid},
		{"Create relative key", func() error { _, err := h.s.Create(ctx, "storetest/x", []byte("x"), none); return err }, store.ErrInvalid},
		{"Create key ending in /", func() error { _, err := h.s.Create(ctx, h.key("dir/"), []byte("x"), none); return err }, store.ErrInvalid},
		{"Create empty segment", func() error { _, err := h.s.Create(ctx, h.key("a//b"), []byte("x"), none); return err }, store.ErrInvalid},
		{"Create nil value", func() error { _, err := h.s.Create(ctx, h.key("nil"), nil, none); return err }, store.ErrInvalid},
		{"Create negative TTL", func() error { _, err := h.s.Create(ctx, h.key("ttl"), []byte("x"), ttl); return err }, store.ErrInvalid},
		{"Update empty key", func() error { _, err := h.s.Update(ctx, "", []byte("x"), 0, none); return err }, store.ErrInvalid},
		{"Update nil value", func() error { _, err := h.s.Update(ctx, ok, nil, 0, none); return err }, store.ErrInvalid},
		{"Update negative TTL", func() error { _, err := h.s.Update(ctx, ok, []byte("x"), 0, ttl); return err }, store.ErrInvalid},
		{"Update negative revision", func() error { _, err := h.s.Update(ctx, ok, []byte("x"), -1, none); return err }, store.ErrInvalid},
		{"Delete empty key", func() error { _, err := h.s.Delete(ctx, "", 0); return err }, store.ErrInvalid},
		{"Delete relative key", func() error { _, err := h.s.Delete(ctx, "storetest/x", 0); return err }, store.ErrInvalid},
		{"Delete negative revision", func() error { _, err := h.s.Delete(ctx, ok, -1); return err }, store.ErrInvalid},
		{"List empty prefix", func() error { _, err := h.s.List(ctx, "", store.ListOptions{}); return err }, store.ErrInvalid},
		{"List relative prefix", func() error { _, err := h.s.List(ctx, "storetest/", store.ListOptions{}); return err }, store.ErrInvalid},
		{"List negative limit", func() error { _, err := h.s.List(ctx, h.prefix, store.ListOptions{Limit: -1}); return err }, store.ErrInvalid},
		{"List negative revision", func() error { _, err := h.s.List(ctx, h.prefix, store.ListOptions{Revision: -1}); return err }, store.ErrInvalid},
		{"List future revision", func() error { _, err := h.s.List(ctx, h.prefix, store.ListOptions{Revision: future}); return err }, store.ErrFutureRevision},
		{"List malformed continue", func() error {
			_, err := h.s.List(ctx, h.prefix, store.ListOptions{Continue: "not a token!"})
			return err
		}, store.ErrInvalid},
		{"List continue of another prefix", func() error { _, err := h.s.List(ctx, h.prefix, store.ListOptions{Continue: otherToken}); return err }, store.ErrInvalid},
		{"List continue and revision", func() error {
			_, err := h.s.List(ctx, h.prefix+"other/", store.ListOptions{Continue: otherToken, Revision: existing.Revision})
			return err
		}, store.ErrInvalid},
		{"Watch empty prefix", func() error { _, err := h.s.Watch(ctx, "", 0); return err }, store.ErrInvalid},
		{"Watch relative prefix", func() error { _, err := h.s.Watch(ctx, "storetest/", 0); return err }, store.ErrInvalid},
		{"Watch negative revision", func() error { _, err := h.s.Watch(ctx, h.prefix, -1); return err }, store.ErrInvalid},
		{"Compact negative revision", func() error { return h.s.Compact(ctx, -1) }, store.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.call(), tc.want)
		})
	}

	items, _ := h.list(h.prefix, 0)
	require.Len(t, items, 1, "bad requests wrote: %v", items)
	requireKV(t, items[0], ok, "v", existing.Revision, existing.Revision)
}
