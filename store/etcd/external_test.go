package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

// TestExternalSingleMember runs the basic operations against one etcd process
// (Debian's etcd-server, v3.4) with the v3.7 client.
func TestExternalSingleMember(t *testing.T) {
	t.Parallel()
	c := etcdtest.StartProcess(t, 1)
	s, err := etcdstore.New(etcdstore.Options{Endpoints: c.Endpoints(), Prefix: "/gantry"})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	exerciseStore(t, s, "/registry/pods/default/")

	// The prefix is in etcd, not in what the Store returns.
	cli := c.NewClient(t)
	resp, err := cli.Get(t.Context(), "/gantry/registry/pods/default/", clientv3WithPrefix())
	require.NoError(t, err)
	require.NotZero(t, resp.Count)
}

// TestExternalTLS connects with client certificates read from files, as
// kube-apiserver does with --etcd-cafile/--etcd-certfile/--etcd-keyfile.
func TestExternalTLS(t *testing.T) {
	t.Parallel()
	c := etcdtest.Start(t, etcdtest.Options{Members: 1, TLS: true})
	files := c.ClientTLSFiles()
	conf, err := etcdstore.TLSConfigFromFiles(files.CAFile, files.CertFile, files.KeyFile)
	require.NoError(t, err)
	s, err := etcdstore.New(etcdstore.Options{Endpoints: c.Endpoints(), TLS: conf})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	exerciseStore(t, s, "/registry/secrets/kube-system/")

	// Without a client certificate the server refuses the request.
	noCert, err := etcdstore.TLSConfigFromFiles(files.CAFile, "", "")
	require.NoError(t, err)
	bad, err := etcdstore.New(etcdstore.Options{Endpoints: c.Endpoints(), TLS: noCert, DialTimeout: time.Second})
	if err == nil {
		t.Cleanup(func() { bad.Close() })
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = bad.Get(ctx, "/registry/x")
	}
	require.Error(t, err, "a client without certificate must be refused")
	require.False(t, errors.Is(err, store.ErrNotFound))
}

// TestExternalThreeMembers checks that a 3-member cluster keeps serving
// reads, writes and watches while one member is down, and that the member
// catches up when it comes back.
func TestExternalThreeMembers(t *testing.T) {
	t.Parallel()
	c := etcdtest.StartProcess(t, 3)
	s, err := etcdstore.New(etcdstore.Options{Endpoints: c.Endpoints()})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	const prefix = "/registry/nodes/"

	kv, err := s.Create(ctx, prefix+"n0", []byte("v0"), store.WriteOptions{})
	require.NoError(t, err)
	w, err := s.Watch(ctx, prefix, kv.ModRevision)
	require.NoError(t, err)

	for down := range c.Size() {
		c.StopMember(t, down)
		require.False(t, c.Running(down))
		key := fmt.Sprintf("%sdown-%d", prefix, down)
		// The client may have been talking to the stopped member: writes
		// go through once it has switched to another one.
		var created *store.KeyValue
		eventually(t, 20*time.Second, "a write with member "+fmt.Sprint(down)+" down", func() error {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			created, err = s.Create(cctx, key, []byte("x"), store.WriteOptions{})
			if errors.Is(err, store.ErrAlreadyExists) { // a retried write that had landed
				created, err = s.Get(cctx, key)
			}
			return err
		})
		got, err := s.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, created.ModRevision, got.ModRevision)
		ev := nextEvent(t, w)
		require.Equal(t, store.EventCreate, ev.Type, "event %v", ev)
		require.Equal(t, key, ev.Key)

		c.StartMember(t, down)
	}

	// Every member, read on its own, has all the data.
	for i := range c.Size() {
		one, err := etcdstore.New(etcdstore.Options{Endpoints: []string{c.Endpoint(i)}})
		require.NoError(t, err)
		res, err := one.List(ctx, prefix, store.ListOptions{})
		require.NoError(t, err)
		require.Len(t, res.Items, 1+c.Size(), "member %d", i)
		require.NoError(t, one.Close())
	}
}
