package etcd_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/store"
)

func clientv3WithPrefix() clientv3.OpOption { return clientv3.WithPrefix() }

// eventually polls f until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// nextEvent returns the next event of w within 10s.
func nextEvent(t *testing.T, w <-chan store.Event) store.Event {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case ev, ok := <-w:
		require.True(t, ok, "watch channel closed")
		return ev
	case <-timer.C:
		t.Fatal("no watch event within 10s")
	}
	return store.Event{}
}

// exerciseStore runs create, update, list, watch and delete under prefix.
func exerciseStore(t *testing.T, s store.Store, prefix string) {
	t.Helper()
	ctx := t.Context()
	w, err := s.Watch(ctx, prefix, 0)
	require.NoError(t, err)
	var kvs []*store.KeyValue
	for i := range 3 {
		kv, err := s.Create(ctx, fmt.Sprintf("%sk%d", prefix, i), []byte("v"), store.WriteOptions{})
		require.NoError(t, err)
		kvs = append(kvs, kv)
	}
	up, err := s.Update(ctx, kvs[0].Key, []byte("v2"), kvs[0].ModRevision, store.WriteOptions{})
	require.NoError(t, err)
	require.Equal(t, kvs[0].CreateRevision, up.CreateRevision)
	_, err = s.Update(ctx, kvs[0].Key, []byte("v3"), kvs[0].ModRevision, store.WriteOptions{})
	require.ErrorIs(t, err, store.ErrConflict)

	res, err := s.List(ctx, prefix, store.ListOptions{Limit: 2})
	require.NoError(t, err)
	require.Len(t, res.Items, 2)
	require.EqualValues(t, 1, res.Remaining)
	res2, err := s.List(ctx, prefix, store.ListOptions{Limit: 2, Continue: res.Continue})
	require.NoError(t, err)
	require.Len(t, res2.Items, 1)
	require.Equal(t, res.Revision, res2.Revision)
	require.Empty(t, res2.Continue)

	del, err := s.Delete(ctx, kvs[1].Key, 0)
	require.NoError(t, err)
	require.Equal(t, kvs[1].ModRevision, del.ModRevision)

	want := []store.EventType{store.EventCreate, store.EventCreate, store.EventCreate, store.EventUpdate, store.EventDelete}
	for i, typ := range want {
		ev := nextEvent(t, w)
		require.Equal(t, typ, ev.Type, "event %d: %+v", i, ev)
	}
}
