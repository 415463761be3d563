package etcd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
)

func startCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestEmbeddedRestartKeepsData stops an embedded server and starts another
// on the same data dir: keys, values and revisions are all there, and new
// writes continue the revision sequence.
func TestEmbeddedRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := etcdstore.EmbeddedOptions{DataDir: dir, FastTicks: true}
	ctx := startCtx(t)

	srv, err := etcdstore.StartEmbedded(ctx, opts)
	require.NoError(t, err)
	s, err := srv.NewStore(etcdstore.Options{})
	require.NoError(t, err)
	var written []*store.KeyValue
	for i := range 20 {
		kv, err := s.Create(ctx, fmt.Sprintf("/registry/pods/default/p%02d", i), []byte(fmt.Sprint("pod ", i)), store.WriteOptions{})
		require.NoError(t, err)
		written = append(written, kv)
	}
	up, err := s.Update(ctx, written[3].Key, []byte("changed"), written[3].ModRevision, store.WriteOptions{})
	require.NoError(t, err)
	written[3] = up
	_, err = s.Delete(ctx, written[19].Key, 0)
	require.NoError(t, err)
	written = written[:19]
	before, err := s.List(ctx, "/registry/", store.ListOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, srv.Close())
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	require.NoError(t, srv.Err())

	srv2, err := etcdstore.StartEmbedded(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { srv2.Close() })
	s2, err := srv2.NewStore(etcdstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s2.Close() })
	after, err := s2.List(ctx, "/registry/", store.ListOptions{})
	require.NoError(t, err)
	require.Equal(t, before.Revision, after.Revision)
	require.Equal(t, written, after.Items)
	// History survives too.
	old, err := s2.List(ctx, "/registry/", store.ListOptions{Revision: written[3].CreateRevision})
	require.NoError(t, err)
	require.Len(t, old.Items, 4)
	next, err := s2.Create(ctx, "/registry/pods/default/new", []byte("x"), store.WriteOptions{})
	require.NoError(t, err)
	require.Equal(t, after.Revision+1, next.ModRevision)
}

func TestEmbeddedOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts etcdstore.EmbeddedOptions
	}{
		{"no data dir", etcdstore.EmbeddedOptions{}},
		{"bad host", etcdstore.EmbeddedOptions{TempDir: true, Host: "localhost"}},
		{"negative port", etcdstore.EmbeddedOptions{TempDir: true, ClientPort: -1}},
		{"same ports", etcdstore.EmbeddedOptions{TempDir: true, ClientPort: 40000, PeerPort: 40000}},
		{"negative quota", etcdstore.EmbeddedOptions{TempDir: true, QuotaBackendBytes: -1}},
		{"negative tick", etcdstore.EmbeddedOptions{TempDir: true, TickInterval: -time.Millisecond}},
		{"election below five ticks", etcdstore.EmbeddedOptions{TempDir: true, TickInterval: 100 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := etcdstore.StartEmbedded(t.Context(), tc.opts)
			require.Error(t, err)
			require.Nil(t, srv)
		})
	}
}

// TestEmbeddedTempDir: the temporary data dir is removed by Close.
func TestEmbeddedTempDir(t *testing.T) {
	t.Parallel()
	srv, err := etcdstore.StartEmbedded(startCtx(t), etcdstore.EmbeddedOptions{TempDir: true, FastTicks: true, UnsafeNoFsync: true})
	require.NoError(t, err)
	dir := srv.DataDir()
	require.DirExists(t, dir)
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close(), "second Close")
	_, err = os.Stat(dir)
	require.True(t, os.IsNotExist(err), "data dir left behind: %v", err)
}

// TestEmbeddedPortTaken: a fixed port in use is an error, not a retry, and
// leaves nothing running.
func TestEmbeddedPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	srv, err := etcdstore.StartEmbedded(startCtx(t), etcdstore.EmbeddedOptions{DataDir: t.TempDir(), ClientPort: port, FastTicks: true})
	require.Error(t, err)
	require.Nil(t, srv)
	require.Contains(t, err.Error(), "address already in use")
}

// TestEmbeddedFixedPorts: given ports are used, and kept across restarts.
func TestEmbeddedFixedPorts(t *testing.T) {
	t.Parallel()
	var ports []int
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		require.NoError(t, l.Close())
	}
	srv, err := etcdstore.StartEmbedded(startCtx(t), etcdstore.EmbeddedOptions{
		DataDir: t.TempDir(), ClientPort: ports[0], PeerPort: ports[1], FastTicks: true, UnsafeNoFsync: true,
	})
	if err != nil && os.Getenv("CI") == "" {
		t.Skipf("ports taken in between: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	require.Equal(t, []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])}, srv.Endpoints())
	s, err := srv.NewStore(etcdstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.Create(t.Context(), "/fixed", []byte("v"), store.WriteOptions{})
	require.NoError(t, err)
}

// TestEmbeddedContextDone: StartEmbedded gives up when ctx is done and
// leaves nothing behind.
func TestEmbeddedContextDone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	srv, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedOptions{DataDir: t.TempDir(), FastTicks: true})
	if err == nil { // it may have been ready before looking at ctx
		require.NoError(t, srv.Close())
		return
	}
	require.ErrorIs(t, err, context.Canceled)
}
