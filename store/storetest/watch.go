package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
)

// churn makes n changes to keys keys under sub (creates, updates and
// deletes, guarded by the expected revision) and returns the events a
// watcher must see, in order. It may run outside the test goroutine.
func (h *harness) churn(ctx context.Context, sub string, keys, n int) ([]store.Event, error) {
	type state struct {
		value       string
		create, mod int64
	}
	live := make([]*state, keys)
	events := make([]store.Event, 0, n)
	for i := range n {
		j := i % keys
		key := fmt.Sprintf("%s%sk%02d", h.prefix, sub, j)
		value := fmt.Sprintf("%s%d-%d", sub, j, i)
		st := live[j]
		switch {
		case st == nil:
			kv, err := h.s.Create(ctx, key, []byte(value), store.WriteOptions{})
			if err != nil {
				return events, fmt.Errorf("change %d: %w", i, err)
			}
			live[j] = &state{value: value, create: kv.CreateRevision, mod: kv.ModRevision}
			events = append(events, store.Event{Type: store.EventCreate, Key: key, Value: []byte(value), Revision: kv.ModRevision, CreateRevision: kv.CreateRevision})
		case (i/keys)%5 == 4:
			kv, err := h.s.Delete(ctx, key, st.mod)
			if err != nil {
				return events, fmt.Errorf("change %d: %w", i, err)
			}
			if string(kv.Value) != st.value || kv.ModRevision != st.mod {
				return events, fmt.Errorf("change %d: delete returned %v, want value %q at %d", i, kv, st.value, st.mod)
			}
			live[j] = nil
			events = append(events, store.Event{Type: store.EventDelete, Key: key, PrevValue: []byte(st.value)})
		default:
			kv, err := h.s.Update(ctx, key, []byte(value), st.mod, store.WriteOptions{})
			if err != nil {
				return events, fmt.Errorf("change %d: %w", i, err)
			}
			events = append(events, store.Event{Type: store.EventUpdate, Key: key, Value: []byte(value), PrevValue: []byte(st.value), Revision: kv.ModRevision, CreateRevision: st.create})
			st.value, st.mod = value, kv.ModRevision
		}
	}
	return events, nil
}

// testWatchOrder: 10,000 changes made by concurrent writers reach a watcher
// that reads meanwhile, each once, in revision order, with their values and
// previous values.
func testWatchOrder(t *testing.T, h *harness) {
	const (
		writers   = 4
		perWriter = 2500
		keys      = 10
		total     = writers * perWriter
	)
	rev0 := h.rev()
	w := h.watch(h.prefix, rev0)

	type result struct {
		events []store.Event
		err    error
	}
	read := make(chan result, 1)
	go func() {
		evs, err := collect(w, total, bulkTimeout)
		read <- result{evs, err}
	}()

	wants := make([][]store.Event, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { wants[i], errs[i] = h.churn(h.ctx, fmt.Sprintf("w%d/", i), keys, perWriter) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	got := <-read
	require.NoError(t, got.err)

	for i := 1; i < len(got.events); i++ {
		if got.events[i].Revision <= got.events[i-1].Revision {
			t.Fatalf("event %d at revision %d after %d: %s", i, got.events[i].Revision, got.events[i-1].Revision, describe(got.events[i]))
		}
	}
	// Each writer's changes, in its order: together with the increasing
	// revisions, every write was seen once and in its place.
	for i := range writers {
		sub := fmt.Sprintf("%sw%d/", h.prefix, i)
		var mine []store.Event
		for _, ev := range got.events {
			if strings.HasPrefix(ev.Key, sub) {
				mine = append(mine, ev)
			}
		}
		requireEvents(t, wants[i], mine)
	}

	// And nothing else: the next event is the next write.
	marker := h.create(h.key("marker"), "end")
	requireEvents(t, []store.Event{marker}, recvN(t, w, 1))
}

// testWatchFromNow: a watch from revision 0 sees every write made after
// Watch returned, and none before.
func testWatchFromNow(t *testing.T, h *harness) {
	h.create(h.key("before"), "x")
	w := h.watch(h.prefix, 0)
	want := []store.Event{
		h.create(h.key("a"), "1"),
		h.update(h.key("before"), "y", "x"),
	}
	requireEvents(t, want, recvN(t, w, len(want)))
}

// testWatchResume: a watch after a past revision replays exactly the events
// after it, then continues live.
func testWatchResume(t *testing.T, h *harness) {
	rev0 := h.rev()
	a, b, c := h.key("a"), h.key("b"), h.key("c")
	log := []store.Event{
		h.create(a, "a1"),
		h.update(a, "a2", "a1"),
		h.create(b, "b1"),
		h.update(b, "b2", "b1"),
		h.delete(a, "a2"),
		h.update(b, "b3", "b2"),
		h.create(c, "c1"),
		h.create(a, "a3"),
		h.update(c, "c2", "c1"),
		h.update(a, "a4", "a3"),
	}
	// Learn the revision of the delete from a watch over everything.
	all := recvN(t, h.watch(h.prefix, rev0), len(log))
	requireEvents(t, log, all)
	log[4].Revision = all[4].Revision

	var watches []<-chan store.Event
	for _, tc := range []struct {
		name  string
		after int64
		want  []store.Event
	}{
		{"before all", rev0, log},
		{"after first", log[0].Revision, log[1:]},
		{"after fourth", log[3].Revision, log[4:]},
		{"after delete", log[4].Revision, log[5:]},
		{"after next to last", log[8].Revision, log[9:]},
		{"after last", log[9].Revision, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := h.watch(h.prefix, tc.after)
			requireEvents(t, tc.want, recvN(t, w, len(tc.want)))
			watches = append(watches, w)
		})
	}
	// Nothing is left over: the next event of each is the next write.
	marker := h.update(c, "c3", "c2")
	for _, w := range watches {
		requireEvents(t, []store.Event{marker}, recvN(t, w, 1))
	}
}

// testWatchPrefix: a watch sees exactly the keys that start with its prefix;
// a prefix ending in "/" does not match its siblings ("/p/a/" does not see
// "/p/ab").
func testWatchPrefix(t *testing.T, h *harness) {
	rev0 := h.rev()
	keys := []string{"p/a", "p/a/x", "p/a/y/z", "p/ab", "p/ab/x", "p/b/x", "q/a/x"}
	var log []store.Event
	for _, k := range keys {
		log = append(log, h.create(h.key(k), "1"))
	}
	for _, k := range keys {
		log = append(log, h.update(h.key(k), "2", "1"))
	}
	log = append(log, h.delete(h.key("p/a/x"), "2"), h.delete(h.key("p/ab"), "2"))
	marker := h.create(h.key("p/a/zz-marker"), "end") // under every prefix below
	log = append(log, marker)

	for _, tc := range []struct {
		prefix string
		keys   []string // the keys it must see
	}{
		{"p/a/", []string{"p/a/x", "p/a/y/z", "p/a/zz-marker"}},
		{"p/a", []string{"p/a", "p/a/x", "p/a/y/z", "p/ab", "p/ab/x", "p/a/zz-marker"}},
		{"p/", []string{"p/a", "p/a/x", "p/a/y/z", "p/ab", "p/ab/x", "p/b/x", "p/a/zz-marker"}},
		{"", append(keys, "p/a/zz-marker")},
	} {
		t.Run("prefix="+tc.prefix, func(t *testing.T) {
			prefix := h.prefix + tc.prefix
			in := map[string]bool{}
			for _, k := range tc.keys {
				in[h.key(k)] = true
			}
			var want []store.Event
			for _, ev := range log {
				if in[ev.Key] {
					want = append(want, ev)
				}
			}
			ctx, cancel := context.WithCancel(h.ctx)
			defer cancel()
			w, err := h.s.Watch(ctx, prefix, rev0)
			require.NoError(t, err)
			requireEvents(t, want, recvN(t, w, len(want)))
			require.Equal(t, marker.Revision, want[len(want)-1].Revision)

			// List draws the same line.
			items, _ := h.list(prefix, 0)
			for _, kv := range items {
				require.True(t, in[kv.Key], "list %q returned %q", prefix, kv.Key)
			}
		})
	}
}

// testWatchDeletePrevValue: a delete event carries the deleted value as
// PrevValue, no Value, and the revision of the deletion.
func testWatchDeletePrevValue(t *testing.T, h *harness) {
	k := h.key("k")
	created := h.create(k, "v1")
	w := h.watch(h.prefix, created.Revision)
	updated := h.update(k, "v2", "v1")
	deleted, err := h.s.Delete(h.ctx, k, updated.Revision)
	require.NoError(t, err)
	requireKV(t, deleted, k, "v2", created.Revision, updated.Revision)
	after := h.create(h.key("after"), "x")

	evs := recvN(t, w, 3)
	requireEvents(t, []store.Event{
		updated,
		{Type: store.EventDelete, Key: k, PrevValue: []byte("v2")},
		after,
	}, evs)
	require.Empty(t, evs[1].Value, "a delete event has no Value")
	require.Zero(t, evs[1].CreateRevision, "a delete event has no CreateRevision")

	// The revision of the deletion is where the key stopped existing.
	items, _ := h.list(h.prefix, evs[1].Revision-1)
	requireItems(t, items, k+"=v2")
	items, _ = h.list(h.prefix, evs[1].Revision)
	requireItems(t, items)
}
