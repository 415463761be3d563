package memory

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
)

// TestCompactionFreesHistory: compaction drops the event log and the old
// versions before the revision, and forgets deleted keys entirely.
func TestCompactionFreesHistory(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ctx := t.Context()
	for i := range 100 {
		_, err := s.Create(ctx, fmt.Sprintf("/k%03d", i), []byte("0"), store.WriteOptions{})
		require.NoError(t, err)
	}
	for round := range 10 {
		for i := range 100 {
			_, err := s.Update(ctx, fmt.Sprintf("/k%03d", i), []byte(fmt.Sprint(round)), 0, store.WriteOptions{})
			require.NoError(t, err)
		}
	}
	for i := range 50 {
		_, err := s.Delete(ctx, fmt.Sprintf("/k%03d", i), 0)
		require.NoError(t, err)
	}
	require.Len(t, s.log, 1150)
	require.Len(t, s.keys, 100)

	mid := s.Revision()
	_, err := s.Update(ctx, "/k099", []byte("last"), 0, store.WriteOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Compact(ctx, mid))

	require.Len(t, s.log, 1, "the log keeps the changes after the compaction revision")
	require.EqualValues(t, mid+1, s.logStart)
	require.Len(t, s.keys, 50, "deleted keys are forgotten")
	require.Equal(t, 50, s.sorted.Len())
	for key, h := range s.keys {
		want := 1
		if key == "/k099" {
			want = 2
		}
		require.Len(t, h.versions, want, "versions of %s", key)
	}

	// What remains reads the same.
	res, err := s.List(ctx, "/", store.ListOptions{Revision: mid})
	require.NoError(t, err)
	require.Len(t, res.Items, 50)
	require.Equal(t, "/k050", res.Items[0].Key)
	require.Equal(t, "9", string(res.Items[49].Value))
	res, err = s.List(ctx, "/", store.ListOptions{})
	require.NoError(t, err)
	require.Equal(t, "last", string(res.Items[49].Value))
}

// TestExpiryHeapShrinks: rewriting a key with a TTL does not pile up
// deadlines.
func TestExpiryHeapShrinks(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ctx := t.Context()
	_, err := s.Create(ctx, "/k", []byte("x"), store.WriteOptions{TTL: 1 << 40})
	require.NoError(t, err)
	for range 100 {
		_, err := s.Update(ctx, "/k", []byte("x"), 0, store.WriteOptions{TTL: 1 << 40})
		require.NoError(t, err)
	}
	require.Len(t, s.expiries, 1)
	_, err = s.Update(ctx, "/k", []byte("x"), 0, store.WriteOptions{})
	require.NoError(t, err)
	require.Empty(t, s.expiries)
	require.Nil(t, s.timer)
}
