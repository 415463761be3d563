package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
)

// Backend is one store under test.
type Backend struct {
	// Store is an open store. The suite closes it when the subtest ends.
	Store store.Store
	// Advance moves the store's clock forward by d. Leave it nil for stores
	// on real time (etcd): the suite then polls with a deadline instead.
	Advance func(d time.Duration)
}

// Timeouts of the suite. They bound waits for things that should happen
// promptly; a passing backend never comes near them.
const (
	// eventTimeout bounds the wait for one watch event or a channel close.
	eventTimeout = 10 * time.Second
	// ttlTimeout bounds the wait for a key to expire on real time.
	ttlTimeout = 15 * time.Second
	// bulkTimeout bounds the tests that write thousands of changes.
	bulkTimeout = 2 * time.Minute
)

// Run runs the whole conformance suite as subtests of t, one after the
// other. newBackend is called once per subtest and must return an open store
// independent enough that closing it affects no other subtest; stores may
// share a server (each subtest writes under its own prefix).
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(*testing.T, *harness)
	}{
		{"CreateGetUpdateDelete", testBasics},
		{"ValuesAreCopies", testCopies},
		{"CASContention", testCASContention},
		{"WatchOrder", testWatchOrder},
		{"WatchFromNow", testWatchFromNow},
		{"WatchResume", testWatchResume},
		{"WatchPrefix", testWatchPrefix},
		{"WatchDeletePrevValue", testWatchDeletePrevValue},
		{"Compaction", testCompaction},
		{"CompactionOvertakesWatch", testCompactionOvertakesWatch},
		{"TTL", testTTL},
		{"ListPagination", testListPagination},
		{"ListAtRevision", testListAtRevision},
		{"ContextCancel", testContextCancel},
		{"Closed", testClosed},
		{"BadInput", testBadInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			require.NotNil(t, b.Store, "newBackend returned no Store")
			t.Cleanup(func() { _ = b.Store.Close() })
			tc.test(t, &harness{
				t:       t,
				s:       b.Store,
				advance: b.Advance,
				prefix:  "/storetest/" + sanitize(t.Name()) + "-" + rand.Text()[:8] + "/",
				ctx:     t.Context(),
			})
		})
	}
}

// sanitize turns a test name into one key segment.
func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
}

// harness is what a subtest works with: the store and its own key prefix.
type harness struct {
	t       *testing.T
	s       store.Store
	advance func(time.Duration)
	prefix  string // ends with "/"
	ctx     context.Context
}

// key returns the key name under the subtest's prefix.
func (h *harness) key(name string) string { return h.prefix + name }

// rev returns the store's current revision.
func (h *harness) rev() int64 {
	h.t.Helper()
	res, err := h.s.List(h.ctx, h.prefix, store.ListOptions{Limit: 1})
	require.NoError(h.t, err)
	return res.Revision
}

// create creates key with value and returns the event a watcher must see.
func (h *harness) create(key, value string) store.Event {
	h.t.Helper()
	kv, err := h.s.Create(h.ctx, key, []byte(value), store.WriteOptions{})
	require.NoError(h.t, err, "create %q", key)
	requireKV(h.t, kv, key, value, kv.ModRevision, kv.ModRevision)
	return store.Event{Type: store.EventCreate, Key: key, Value: []byte(value), Revision: kv.ModRevision, CreateRevision: kv.ModRevision}
}

// update updates key from prev to value, unconditionally, and returns the
// event a watcher must see.
func (h *harness) update(key, value, prev string) store.Event {
	h.t.Helper()
	kv, err := h.s.Update(h.ctx, key, []byte(value), 0, store.WriteOptions{})
	require.NoError(h.t, err, "update %q", key)
	require.Equal(h.t, value, string(kv.Value))
	return store.Event{Type: store.EventUpdate, Key: key, Value: []byte(value), PrevValue: []byte(prev), Revision: kv.ModRevision, CreateRevision: kv.CreateRevision}
}

// delete deletes key, whose value is prev, unconditionally, and returns the
// event a watcher must see. Its Revision is 0: a Delete does not tell the
// revision of the deletion, so requireEvents only checks its order.
func (h *harness) delete(key, prev string) store.Event {
	h.t.Helper()
	kv, err := h.s.Delete(h.ctx, key, 0)
	require.NoError(h.t, err, "delete %q", key)
	require.Equal(h.t, prev, string(kv.Value))
	return store.Event{Type: store.EventDelete, Key: key, PrevValue: []byte(prev)}
}

// get returns the current value of key, which must exist.
func (h *harness) get(key string) *store.KeyValue {
	h.t.Helper()
	kv, err := h.s.Get(h.ctx, key)
	require.NoError(h.t, err, "get %q", key)
	return kv
}

// requireNotFound checks that key does not exist.
func (h *harness) requireNotFound(key string) {
	h.t.Helper()
	kv, err := h.s.Get(h.ctx, key)
	require.ErrorIs(h.t, err, store.ErrNotFound, "get %q returned %v", key, kv)
}

// list returns the items under prefix at revision rev (0: current), all
// pages.
func (h *harness) list(prefix string, rev int64) (items []*store.KeyValue, listRev int64) {
	h.t.Helper()
	res, err := h.s.List(h.ctx, prefix, store.ListOptions{Revision: rev})
	require.NoError(h.t, err, "list %q at %d", prefix, rev)
	require.Empty(h.t, res.Continue, "list without limit returned a continue token")
	require.Zero(h.t, res.Remaining)
	return res.Items, res.Revision
}

// watch starts a watch that ends with the subtest.
func (h *harness) watch(prefix string, after int64) <-chan store.Event {
	h.t.Helper()
	w, err := h.s.Watch(h.ctx, prefix, after)
	require.NoError(h.t, err, "watch %q after %d", prefix, after)
	return w
}

// requireKV checks a KeyValue.
func requireKV(t *testing.T, kv *store.KeyValue, key, value string, create, mod int64) {
	t.Helper()
	require.NotNil(t, kv)
	require.Equal(t, key, kv.Key, "key")
	require.Equal(t, value, string(kv.Value), "value of %q", key)
	require.Equal(t, create, kv.CreateRevision, "create revision of %q", key)
	require.Equal(t, mod, kv.ModRevision, "mod revision of %q", key)
}

// requireItems checks the keys and values of a list.
func requireItems(t *testing.T, items []*store.KeyValue, want ...string) {
	t.Helper()
	var got []string
	for _, kv := range items {
		got = append(got, kv.Key+"="+string(kv.Value))
	}
	if len(want) == 0 {
		want = nil
	}
	require.Equal(t, want, got)
}

// recv returns the next event of w.
func recv(t *testing.T, w <-chan store.Event) store.Event {
	t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-w:
		require.True(t, ok, "watch channel closed")
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within %v", eventTimeout)
	}
	return store.Event{}
}

// recvN returns the next n events of w.
func recvN(t *testing.T, w <-chan store.Event, n int) []store.Event {
	t.Helper()
	evs, err := collect(w, n, eventTimeout+time.Duration(n)*time.Millisecond)
	require.NoError(t, err)
	return evs
}

// collect reads n events from w. It fails if the channel closes first, an
// EventError arrives, or timeout passes. It may run outside the test
// goroutine.
func collect(w <-chan store.Event, n int, timeout time.Duration) ([]store.Event, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	evs := make([]store.Event, 0, n)
	for len(evs) < n {
		select {
		case ev, ok := <-w:
			if !ok {
				return evs, fmt.Errorf("watch channel closed after %d of %d events", len(evs), n)
			}
			if ev.Type == store.EventError {
				return evs, fmt.Errorf("watch failed after %d of %d events: %w", len(evs), n, ev.Err)
			}
			evs = append(evs, ev)
		case <-timer.C:
			return evs, fmt.Errorf("got %d of %d watch events within %v", len(evs), n, timeout)
		}
	}
	return evs, nil
}

// requireClosed waits until w is closed and returns the events it still
// delivered.
func requireClosed(t *testing.T, w <-chan store.Event) []store.Event {
	t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	var evs []store.Event
	for {
		select {
		case ev, ok := <-w:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timer.C:
			t.Fatalf("watch channel not closed within %v (%d events drained)", eventTimeout, len(evs))
		}
	}
}

// watchError starts a watch that must fail, either at once or with an
// EventError as its first event followed by the channel closing, and
// returns the error.
func (h *harness) watchError(prefix string, after int64) error {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	w, err := h.s.Watch(ctx, prefix, after)
	if err != nil {
		return err
	}
	ev := recv(h.t, w)
	require.Equal(h.t, store.EventError, ev.Type, "watch %q after %d: want an error, got %s", prefix, after, describe(ev))
	require.Error(h.t, ev.Err, "EventError without Err")
	rest := requireClosed(h.t, w)
	require.Empty(h.t, rest, "events after EventError")
	return ev.Err
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// describe formats an event for failure messages.
func describe(ev store.Event) string {
	if ev.Type == store.EventError {
		return fmt.Sprintf("ERROR(%v)", ev.Err)
	}
	return fmt.Sprintf("%v %s rev=%d create=%d value=%q prev=%q", ev.Type, ev.Key, ev.Revision, ev.CreateRevision, ev.Value, ev.PrevValue)
}

// sameEvent tells whether got is the event want describes. A want.Revision
// of 0 matches any revision (deletes, whose revision the writer cannot
// know).
func sameEvent(want, got store.Event) bool {
	return want.Type == got.Type &&
		want.Key == got.Key &&
		bytes.Equal(want.Value, got.Value) &&
		bytes.Equal(want.PrevValue, got.PrevValue) &&
		want.CreateRevision == got.CreateRevision &&
		(want.Revision == 0 || want.Revision == got.Revision)
}

// requireEvents checks that got is exactly want, in order, with strictly
// increasing revisions.
func requireEvents(t *testing.T, want, got []store.Event) {
	t.Helper()
	for i := range min(len(want), len(got)) {
		if !sameEvent(want[i], got[i]) {
			t.Fatalf("watch event %d of %d:\n got  %s\n want %s", i, len(want), describe(got[i]), describe(want[i]))
		}
		if i > 0 && got[i].Revision <= got[i-1].Revision {
			t.Fatalf("watch event %d: revision %d after %d, want increasing:\n %s\n %s", i, got[i].Revision, got[i-1].Revision, describe(got[i-1]), describe(got[i]))
		}
	}
	if len(got) != len(want) {
		var extra string
		if len(got) > len(want) {
			extra = ", first extra: " + describe(got[len(want)])
		} else {
			extra = ", first missing: " + describe(want[len(got)])
		}
		t.Fatalf("got %d watch events, want %d%s", len(got), len(want), extra)
	}
}

// requireErrorNames checks that err wraps target and mentions name, the key
// or prefix it concerns.
func requireErrorNames(t *testing.T, err, target error, name string) {
	t.Helper()
	require.ErrorIs(t, err, target)
	require.Contains(t, err.Error(), name, "the error should name the key")
}

// isErr reports whether err wraps target; for polling conditions.
func isErr(err, target error) bool { return errors.Is(err, target) }
