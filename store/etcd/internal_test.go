package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gantryhq/gantry/store"
)

func TestTTLSeconds(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{500 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{90 * time.Second, 90},
		{time.Hour, 3600},
	} {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			require.Equal(t, tc.want, ttlSeconds(tc.ttl))
		})
	}
}

func TestReuseSeconds(t *testing.T) {
	for _, tc := range []struct{ ttl, want int64 }{
		{1, 0}, {19, 0}, {20, 1}, {100, 5}, {3600, 60}, {100000, 60},
	} {
		t.Run(fmt.Sprint(tc.ttl), func(t *testing.T) {
			require.Equal(t, tc.want, reuseSeconds(tc.ttl))
		})
	}
}

// fakeLease grants numbered leases and records the TTLs asked for.
type fakeLease struct {
	clientv3.Lease // not implemented: panics if called
	next           clientv3.LeaseID
	ttls           []int64
	err            error
}

func (f *fakeLease) Grant(_ context.Context, ttl int64) (*clientv3.LeaseGrantResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.next++
	f.ttls = append(f.ttls, ttl)
	return &clientv3.LeaseGrantResponse{ID: f.next, TTL: ttl}, nil
}

func TestLeaseCache(t *testing.T) {
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	type step struct {
		at      time.Duration // since t0
		ttl     int64
		want    clientv3.LeaseID
		granted int64 // TTL of the Grant it makes, 0 for none
	}
	for _, tc := range []struct {
		name  string
		reuse bool
		steps []step
	}{
		{"short TTLs never share", true, []step{
			{0, 5, 1, 5},
			{0, 5, 2, 5},
			{time.Second, 19, 3, 19},
		}},
		{"same TTL shares while the lease outlives it", true, []step{
			{0, 100, 1, 105},             // 100s + 5%
			{4 * time.Second, 100, 1, 0}, // expires at 105 > 104+100
			{5 * time.Second, 100, 2, 105},
			{6 * time.Second, 100, 2, 0},
		}},
		{"different TTLs do not share", true, []step{
			{0, 100, 1, 105},
			{0, 200, 2, 210},
			{time.Second, 100, 1, 0},
			{time.Second, 200, 2, 0},
		}},
		{"long TTL reuse capped at a minute", true, []step{
			{0, 3600, 1, 3660},
			{59 * time.Second, 3600, 1, 0},
			{60 * time.Second, 3600, 2, 3660},
		}},
		{"disabled", false, []step{
			{0, 100, 1, 100},
			{0, 100, 2, 100},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeLease{}
			c := newLeaseCache(fake, tc.reuse)
			var now time.Time
			c.now = func() time.Time { return now }
			for i, st := range tc.steps {
				now = t0.Add(st.at)
				before := len(fake.ttls)
				id, shared, err := c.get(ctx, st.ttl)
				require.NoError(t, err, "step %d", i)
				require.Equal(t, st.want, id, "step %d: lease", i)
				require.Equal(t, tc.reuse && reuseSeconds(st.ttl) > 0, shared, "step %d: shared", i)
				if st.granted == 0 {
					require.Len(t, fake.ttls, before, "step %d: no grant expected", i)
				} else {
					require.Len(t, fake.ttls, before+1, "step %d: one grant expected", i)
					require.Equal(t, st.granted, fake.ttls[before], "step %d: granted TTL", i)
				}
			}
		})
	}

	t.Run("forget", func(t *testing.T) {
		fake := &fakeLease{}
		c := newLeaseCache(fake, true)
		id, _, err := c.get(ctx, 100)
		require.NoError(t, err)
		c.forget(id)
		id2, _, err := c.get(ctx, 100)
		require.NoError(t, err)
		require.NotEqual(t, id, id2)
	})
	t.Run("grant error", func(t *testing.T) {
		boom := errors.New("boom")
		c := newLeaseCache(&fakeLease{err: boom}, true)
		_, _, err := c.get(ctx, 100)
		require.ErrorIs(t, err, boom)
		_, _, err = c.get(ctx, 1)
		require.ErrorIs(t, err, boom)
	})
}

func TestTranslate(t *testing.T) {
	s := &Store{}
	for _, tc := range []struct {
		name string
		in   error
		want error // the store sentinel, nil when none applies
	}{
		{"compacted", rpctypes.ErrCompacted, store.ErrCompacted},
		{"future revision", rpctypes.ErrFutureRev, store.ErrFutureRevision},
		{"wrapped compacted", fmt.Errorf("watch: %w", rpctypes.ErrCompacted), store.ErrCompacted},
		{"request too large", rpctypes.ErrRequestTooLarge, store.ErrInvalid},
		{"too many ops", rpctypes.ErrTooManyOps, store.ErrInvalid},
		{"no space", rpctypes.ErrNoSpace, nil},
		{"no leader", rpctypes.ErrNoLeader, nil},
		{"canceled", context.Canceled, nil},
		{"deadline", context.DeadlineExceeded, nil},
		{"store sentinel", store.ErrConflict, store.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.translate(tc.in)
			require.ErrorIs(t, got, tc.in, "the etcd error stays in the chain")
			if tc.want != nil {
				require.ErrorIs(t, got, tc.want)
			}
			for _, other := range []error{store.ErrCompacted, store.ErrFutureRevision, store.ErrInvalid, store.ErrClosed, store.ErrNotFound} {
				if other != tc.want && !errors.Is(tc.in, other) {
					require.NotErrorIs(t, got, other)
				}
			}
			kerr := s.wrap("/k", tc.in)
			var ke *store.KeyError
			require.ErrorAs(t, kerr, &ke)
			require.Equal(t, "/k", ke.Key)
		})
	}
	require.NoError(t, s.translate(nil))
	require.NoError(t, s.wrap("/k", nil))

	closed := &Store{}
	closed.closed.Store(true)
	err := closed.wrap("/k", errors.New("grpc: the client connection is closing"))
	require.ErrorIs(t, err, store.ErrClosed)
}

func TestZapLogger(t *testing.T) {
	var buf bytes.Buffer
	lg := ZapLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	lg.Info("dropped", zap.String("k", "v"))
	lg.With(zap.String("member", "m0")).Warn("slow apply", zap.Duration("took", time.Second), zap.Error(errors.New("boom")))
	lg.Error("failed", zap.Int("n", 3))
	out := buf.String()
	require.NotContains(t, out, "dropped")
	for _, want := range []string{`level=WARN msg="slow apply"`, "member=m0", "took=1s", "error=boom", `level=ERROR msg=failed n=3`} {
		require.Contains(t, out, want)
	}
}
