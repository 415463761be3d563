package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
	"github.com/gantryhq/gantry/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
		return storetest.Backend{
			Store:   memory.New(memory.Options{Clock: clk}),
			Advance: clk.Step,
		}
	})
}

// newStore returns a store on a fake clock, closed when the test ends.
func newStore(t *testing.T) (*memory.Store, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	s := memory.New(memory.Options{Clock: clk})
	t.Cleanup(func() { _ = s.Close() })
	return s, clk
}

func TestRevisionsStartLikeEtcd(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	require.EqualValues(t, 1, s.Revision(), "a fresh store is at revision 1")
	res, err := s.List(ctx, "/", store.ListOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Revision)
	require.Empty(t, res.Items)

	kv, err := s.Create(ctx, "/a", []byte("x"), store.WriteOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 2, kv.ModRevision, "the first write makes revision 2")
	_, err = s.Delete(ctx, "/a", 0)
	require.NoError(t, err)
	require.EqualValues(t, 3, s.Revision(), "a delete is a revision")

	_, err = s.List(ctx, "/", store.ListOptions{Revision: 4})
	require.ErrorIs(t, err, store.ErrFutureRevision)
	_, err = s.List(ctx, "/", store.ListOptions{Revision: 1})
	require.NoError(t, err, "revision 1 is readable until compacted")
}

// TestSlowWatcherDoesNotBlockWriters: a watcher that reads nothing holds
// back no writer, and later still gets every event.
func TestSlowWatcherDoesNotBlockWriters(t *testing.T) {
	const n = 20_000
	s, _ := newStore(t)
	ctx := t.Context()
	w, err := s.Watch(ctx, "/", 0)
	require.NoError(t, err)
	for i := range n {
		_, err := s.Create(ctx, fmt.Sprintf("/k%05d", i), []byte("x"), store.WriteOptions{})
		require.NoError(t, err)
	}
	for i := range n {
		ev := <-w
		require.Equal(t, store.EventCreate, ev.Type)
		require.EqualValues(t, i+2, ev.Revision)
	}
}

// TestCompactionOvertakesSlowWatcher: a watcher that has fallen behind a
// compaction gets the events it had already taken, then an EventError
// wrapping ErrCompacted, and its channel closes; a caught-up watcher goes on.
func TestCompactionOvertakesSlowWatcher(t *testing.T) {
	const n = 5000
	s, _ := newStore(t)
	ctx := t.Context()
	slow, err := s.Watch(ctx, "/", 0)
	require.NoError(t, err)
	for i := range n {
		_, err := s.Create(ctx, fmt.Sprintf("/k%05d", i), []byte("x"), store.WriteOptions{})
		require.NoError(t, err)
	}
	live, err := s.Watch(ctx, "/", 0)
	require.NoError(t, err)
	require.NoError(t, s.Compact(ctx, s.Revision()))

	var got int
	for ev := range slow {
		if ev.Type == store.EventError {
			require.ErrorIs(t, ev.Err, store.ErrCompacted)
			_, open := <-slow
			require.False(t, open, "the channel closes after EventError")
			break
		}
		require.EqualValues(t, got+2, ev.Revision, "events before the error have no gap")
		got++
	}
	require.Less(t, got, n, "the slow watcher should have been overtaken")

	kv, err := s.Create(ctx, "/after", []byte("x"), store.WriteOptions{})
	require.NoError(t, err)
	ev := <-live
	require.Equal(t, kv.ModRevision, ev.Revision)
}

// TestWatchFromFutureRevision: as on etcd, a watch may start after a
// revision not reached yet; it sees only the changes after it.
func TestWatchFromFutureRevision(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	w, err := s.Watch(ctx, "/", 3)
	require.NoError(t, err)
	for _, k := range []string{"/a", "/b", "/c"} {
		_, err := s.Create(ctx, k, []byte("x"), store.WriteOptions{})
		require.NoError(t, err)
	}
	ev := <-w
	require.Equal(t, "/c", ev.Key)
	require.EqualValues(t, 4, ev.Revision)
}

func TestCompactArguments(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for range 3 {
		_, err := s.Create(ctx, fmt.Sprintf("/k%d", s.Revision()), []byte("x"), store.WriteOptions{})
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		rev  int64
		want error
	}{
		{0, store.ErrInvalid},
		{-1, store.ErrInvalid},
		{5, store.ErrFutureRevision},
		{1, nil},
		{1, store.ErrCompacted},
		{3, nil},
		{2, store.ErrCompacted},
		{4, nil},
	} {
		err := s.Compact(ctx, tc.rev)
		if tc.want == nil {
			require.NoError(t, err, "Compact(%d)", tc.rev)
		} else {
			require.ErrorIs(t, err, tc.want, "Compact(%d)", tc.rev)
		}
	}
}

// TestTTL covers the expiry rules on a fake clock: deadlines are exact,
// expiries happen in deadline order at their own revisions, an update
// replaces the TTL and a delete cancels it.
func TestTTL(t *testing.T) {
	s, clk := newStore(t)
	ctx := t.Context()
	w, err := s.Watch(ctx, "/", 0)
	require.NoError(t, err)
	write := func(key string, ttl time.Duration) {
		t.Helper()
		_, err := s.Create(ctx, key, []byte("x"), store.WriteOptions{TTL: ttl})
		require.NoError(t, err)
		require.Equal(t, store.EventCreate, (<-w).Type)
	}
	expect := func(keys ...string) {
		t.Helper()
		for _, k := range keys {
			ev := <-w
			require.Equal(t, store.EventDelete, ev.Type, "%s", ev.Key)
			require.Equal(t, k, ev.Key)
		}
	}
	write("/c", 3*time.Second)
	write("/a", time.Second)
	write("/b", 2*time.Second)
	write("/later", 10*time.Second)
	write("/cancel", time.Second)
	write("/renew", time.Second)
	_, err = s.Delete(ctx, "/cancel", 0)
	require.NoError(t, err)
	expect("/cancel")
	_, err = s.Update(ctx, "/renew", []byte("y"), 0, store.WriteOptions{TTL: 5 * time.Second})
	require.NoError(t, err)
	require.Equal(t, store.EventUpdate, (<-w).Type)

	clk.Step(999 * time.Millisecond)
	clk.Step(time.Millisecond)
	expect("/a")
	clk.Step(5 * time.Second) // past /b, /c and /renew at once
	expect("/b", "/c", "/renew")
	_, err = s.Get(ctx, "/later")
	require.NoError(t, err)
	clk.Step(4 * time.Second)
	expect("/later")

	// A key may be created again after it expired, and expire again.
	write("/a", time.Second)
	clk.Step(time.Second)
	expect("/a")
}

// TestTTLRealClock: the default clock is real time.
func TestTTLRealClock(t *testing.T) {
	s := memory.New(memory.Options{})
	defer s.Close()
	ctx := t.Context()
	w, err := s.Watch(ctx, "/", 0)
	require.NoError(t, err)
	_, err = s.Create(ctx, "/a", []byte("x"), store.WriteOptions{TTL: 20 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, store.EventCreate, (<-w).Type)
	timeout := time.After(10 * time.Second)
	select {
	case ev := <-w:
		require.Equal(t, store.EventDelete, ev.Type)
	case <-timeout:
		t.Fatal("the key did not expire")
	}
}

// TestCloseEndsWatches: Close returns once every watch channel is closed,
// even with a watcher blocked on a full channel.
func TestCloseEndsWatches(t *testing.T) {
	s := memory.New(memory.Options{})
	ctx := t.Context()
	full, err := s.Watch(ctx, "/", 0)
	require.NoError(t, err)
	idle, err := s.Watch(ctx, "/other/", 0)
	require.NoError(t, err)
	for i := range 1000 {
		_, err := s.Create(ctx, fmt.Sprintf("/k%d", i), []byte("x"), store.WriteOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
	for range idle {
		t.Fatal("event on an idle watch")
	}
	n := 0
	for range full {
		n++
	}
	require.Less(t, n, 1000)
	_, err = s.Get(ctx, "/k1")
	require.ErrorIs(t, err, store.ErrClosed)
}

func TestWatchEndsWithContext(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := s.Watch(ctx, "/", 0)
	require.NoError(t, err)
	cancel()
	for range w {
		t.Fatal("event after cancel")
	}
}

// TestWatchAtCompaction: a watch starts from the state at its revision, so
// it may start at the compaction revision but not before it.
func TestWatchAtCompaction(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for _, v := range []string{"1", "2", "3"} {
		_, err := s.Update(ctx, "/k", []byte(v), 0, store.WriteOptions{})
		if err != nil {
			_, err = s.Create(ctx, "/k", []byte(v), store.WriteOptions{})
		}
		require.NoError(t, err)
	}
	require.NoError(t, s.Compact(ctx, 3)) // "/k" = "2"
	_, err := s.Watch(ctx, "/", 2)
	require.ErrorIs(t, err, store.ErrCompacted)
	w, err := s.Watch(ctx, "/", 3)
	require.NoError(t, err)
	ev := <-w
	require.EqualValues(t, 4, ev.Revision)
	require.Equal(t, "2", string(ev.PrevValue))
}
