package etcd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

// newStore returns a Store with its own client on srv, closed in t.Cleanup.
func newStore(t *testing.T, srv *etcdstore.Embedded, opts etcdstore.Options) *etcdstore.Store {
	t.Helper()
	s, err := srv.NewStore(opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient returns a clientv3 client on srv, closed in t.Cleanup.
func rawClient(t *testing.T, srv *etcdstore.Embedded) *clientv3.Client {
	t.Helper()
	c, err := srv.NewClient()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNewValidatesOptions(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:1"}})
	require.NoError(t, err) // does not connect yet
	t.Cleanup(func() { cli.Close() })
	for _, tc := range []struct {
		name string
		opts etcdstore.Options
	}{
		{"nothing", etcdstore.Options{}},
		{"client and endpoints", etcdstore.Options{Client: cli, Endpoints: []string{"http://127.0.0.1:2379"}}},
		{"empty endpoint", etcdstore.Options{Endpoints: []string{" "}}},
		{"negative dial timeout", etcdstore.Options{Endpoints: []string{"http://127.0.0.1:2379"}, DialTimeout: -time.Second}},
		{"relative prefix", etcdstore.Options{Client: cli, Prefix: "gantry"}},
		{"prefix with trailing slash", etcdstore.Options{Client: cli, Prefix: "/gantry/"}},
		{"prefix with dot segment", etcdstore.Options{Client: cli, Prefix: "/a/../b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := etcdstore.New(tc.opts)
			require.Error(t, err)
			require.Nil(t, s)
		})
	}
	s, err := etcdstore.New(etcdstore.Options{Client: cli, Prefix: "/gantry"})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// TestBadInput checks that malformed calls fail with ErrInvalid before any
// RPC and write nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	s := newStore(t, srv, etcdstore.Options{})
	ctx := t.Context()
	kv, err := s.Create(ctx, "/bad/existing", []byte("v"), store.WriteOptions{})
	require.NoError(t, err)
	otherList := store.EncodeContinue("/other/", kv.ModRevision, "/other/x")

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"get empty key", func() error { _, err := s.Get(ctx, ""); return err }},
		{"get relative key", func() error { _, err := s.Get(ctx, "bad/x"); return err }},
		{"create empty key", func() error { _, err := s.Create(ctx, "", []byte("v"), store.WriteOptions{}); return err }},
		{"create key ending in slash", func() error { _, err := s.Create(ctx, "/bad/x/", []byte("v"), store.WriteOptions{}); return err }},
		{"create nil value", func() error { _, err := s.Create(ctx, "/bad/x", nil, store.WriteOptions{}); return err }},
		{"create negative TTL", func() error {
			_, err := s.Create(ctx, "/bad/x", []byte("v"), store.WriteOptions{TTL: -time.Second})
			return err
		}},
		{"update nil value", func() error { _, err := s.Update(ctx, "/bad/existing", nil, 0, store.WriteOptions{}); return err }},
		{"update negative revision", func() error {
			_, err := s.Update(ctx, "/bad/existing", []byte("w"), -1, store.WriteOptions{})
			return err
		}},
		{"update negative TTL", func() error {
			_, err := s.Update(ctx, "/bad/existing", []byte("w"), 0, store.WriteOptions{TTL: -1})
			return err
		}},
		{"delete empty key", func() error { _, err := s.Delete(ctx, "", 0); return err }},
		{"delete negative revision", func() error { _, err := s.Delete(ctx, "/bad/existing", -5); return err }},
		{"list empty prefix", func() error { _, err := s.List(ctx, "", store.ListOptions{}); return err }},
		{"list negative limit", func() error { _, err := s.List(ctx, "/bad/", store.ListOptions{Limit: -1}); return err }},
		{"list negative revision", func() error { _, err := s.List(ctx, "/bad/", store.ListOptions{Revision: -1}); return err }},
		{"list garbage continue", func() error { _, err := s.List(ctx, "/bad/", store.ListOptions{Continue: "!!"}); return err }},
		{"list continue of another prefix", func() error {
			_, err := s.List(ctx, "/bad/", store.ListOptions{Continue: otherList})
			return err
		}},
		{"list revision and continue", func() error {
			_, err := s.List(ctx, "/other/", store.ListOptions{Continue: otherList, Revision: 1})
			return err
		}},
		{"watch empty prefix", func() error { _, err := s.Watch(ctx, "", 0); return err }},
		{"watch negative revision", func() error { _, err := s.Watch(ctx, "/bad/", -1); return err }},
		{"compact zero", func() error { return s.Compact(ctx, 0) }},
		{"compact negative", func() error { return s.Compact(ctx, -3) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, store.ErrInvalid)
		})
	}

	res, err := s.List(ctx, "/", store.ListOptions{})
	require.NoError(t, err)
	require.Equal(t, kv.ModRevision, res.Revision, "a bad call moved the revision")
	require.Len(t, res.Items, 1)
	require.Equal(t, "v", string(res.Items[0].Value))
}

// TestErrorMapping checks that etcd's answers come back as the sentinel
// errors of package store, naming the key, with etcd's error in the chain.
func TestErrorMapping(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	s := newStore(t, srv, etcdstore.Options{})
	ctx := t.Context()
	const p = "/errs/"
	a1, err := s.Create(ctx, p+"a", []byte("1"), store.WriteOptions{})
	require.NoError(t, err)
	a2, err := s.Update(ctx, p+"a", []byte("2"), a1.ModRevision, store.WriteOptions{})
	require.NoError(t, err)
	_, err = s.Create(ctx, p+"b", []byte("1"), store.WriteOptions{})
	require.NoError(t, err)
	page, err := s.List(ctx, p, store.ListOptions{Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, page.Continue)
	b2, err := s.Update(ctx, p+"b", []byte("2"), 0, store.WriteOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Compact(ctx, b2.ModRevision))

	for _, tc := range []struct {
		name string
		call func() error
		want error
		etcd error // the etcd error also in the chain, if any
		key  string
	}{
		{"get missing", func() error { _, err := s.Get(ctx, p+"nope"); return err }, store.ErrNotFound, nil, p + "nope"},
		{"update missing", func() error {
			_, err := s.Update(ctx, p+"nope", []byte("x"), 0, store.WriteOptions{})
			return err
		}, store.ErrNotFound, nil, p + "nope"},
		{"update missing with revision", func() error {
			_, err := s.Update(ctx, p+"nope", []byte("x"), a1.ModRevision, store.WriteOptions{})
			return err
		}, store.ErrNotFound, nil, p + "nope"},
		{"update stale", func() error {
			_, err := s.Update(ctx, p+"a", []byte("x"), a1.ModRevision, store.WriteOptions{})
			return err
		}, store.ErrConflict, nil, p + "a"},
		{"update stale with TTL", func() error {
			_, err := s.Update(ctx, p+"a", []byte("x"), a1.ModRevision, store.WriteOptions{TTL: time.Minute})
			return err
		}, store.ErrConflict, nil, p + "a"},
		{"delete missing", func() error { _, err := s.Delete(ctx, p+"nope", 0); return err }, store.ErrNotFound, nil, p + "nope"},
		{"delete missing with revision", func() error { _, err := s.Delete(ctx, p+"nope", 3); return err }, store.ErrNotFound, nil, p + "nope"},
		{"delete stale", func() error { _, err := s.Delete(ctx, p+"b", b2.ModRevision-1); return err }, store.ErrConflict, nil, p + "b"},
		{"create existing", func() error {
			_, err := s.Create(ctx, p+"a", []byte("x"), store.WriteOptions{})
			return err
		}, store.ErrAlreadyExists, nil, p + "a"},
		{"create existing with TTL", func() error {
			_, err := s.Create(ctx, p+"a", []byte("x"), store.WriteOptions{TTL: time.Second})
			return err
		}, store.ErrAlreadyExists, nil, p + "a"},
		{"list compacted revision", func() error {
			_, err := s.List(ctx, p, store.ListOptions{Revision: a1.ModRevision})
			return err
		}, store.ErrCompacted, rpctypes.ErrCompacted, p},
		{"continue compacted list", func() error {
			_, err := s.List(ctx, p, store.ListOptions{Limit: 1, Continue: page.Continue})
			return err
		}, store.ErrCompacted, rpctypes.ErrCompacted, p},
		{"list future revision", func() error {
			_, err := s.List(ctx, p, store.ListOptions{Revision: b2.ModRevision + 1000})
			return err
		}, store.ErrFutureRevision, rpctypes.ErrFutureRev, p},
		{"watch compacted revision", func() error {
			_, err := s.Watch(ctx, p, a2.ModRevision)
			return err
		}, store.ErrCompacted, rpctypes.ErrCompacted, p},
		{"watch just below the compaction", func() error {
			_, err := s.Watch(ctx, p, b2.ModRevision-1)
			return err
		}, store.ErrCompacted, rpctypes.ErrCompacted, p},
		{"compact again", func() error { return s.Compact(ctx, b2.ModRevision) }, store.ErrCompacted, rpctypes.ErrCompacted, ""},
		{"compact future", func() error { return s.Compact(ctx, b2.ModRevision+1000) }, store.ErrFutureRevision, rpctypes.ErrFutureRev, ""},
		{"value over the server's limit", func() error {
			_, err := s.Create(ctx, p+"big", make([]byte, 1600<<10), store.WriteOptions{})
			return err
		}, store.ErrInvalid, rpctypes.ErrRequestTooLarge, p + "big"},
		{"value over the client's limit", func() error {
			_, err := s.Create(ctx, p+"big", make([]byte, 2<<20), store.WriteOptions{})
			return err
		}, store.ErrInvalid, nil, p + "big"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, tc.want)
			if tc.etcd != nil {
				require.ErrorIs(t, err, tc.etcd)
			}
			if tc.key != "" {
				var ke *store.KeyError
				require.ErrorAs(t, err, &ke)
				require.Equal(t, tc.key, ke.Key)
			}
		})
	}

	// Reading at the compaction revision itself works.
	res, err := s.List(ctx, p, store.ListOptions{Revision: b2.ModRevision})
	require.NoError(t, err)
	require.Len(t, res.Items, 2)

	// A canceled context comes back as the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Get(cctx, p+"a")
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Watch(cctx, p, 0)
	require.ErrorIs(t, err, context.Canceled)
}

// TestClosed: after Close every call fails with ErrClosed, open watches
// end, and a wrapped client stays open.
func TestClosed(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		own  bool
	}{{"own client", true}, {"wrapped client", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var cli *clientv3.Client
			var s *etcdstore.Store
			var err error
			if tc.own {
				s, err = srv.NewStore(etcdstore.Options{})
			} else {
				cli = rawClient(t, srv)
				s, err = etcdstore.New(etcdstore.Options{Client: cli})
			}
			require.NoError(t, err)
			kv, err := s.Create(ctx, "/closed/"+tc.name, []byte("v"), store.WriteOptions{})
			require.NoError(t, err)
			w, err := s.Watch(ctx, "/closed/", 0)
			require.NoError(t, err)

			require.NoError(t, s.Close())
			require.NoError(t, s.Close(), "second Close")
			_, open := <-w
			require.False(t, open, "watch channel open after Close")

			calls := map[string]func() error{
				"get":     func() error { _, err := s.Get(ctx, kv.Key); return err },
				"list":    func() error { _, err := s.List(ctx, "/closed/", store.ListOptions{}); return err },
				"create":  func() error { _, err := s.Create(ctx, "/closed/x", []byte("v"), store.WriteOptions{}); return err },
				"update":  func() error { _, err := s.Update(ctx, kv.Key, []byte("v"), 0, store.WriteOptions{}); return err },
				"delete":  func() error { _, err := s.Delete(ctx, kv.Key, 0); return err },
				"watch":   func() error { _, err := s.Watch(ctx, "/closed/", 0); return err },
				"compact": func() error { return s.Compact(ctx, kv.ModRevision) },
			}
			for name, call := range calls {
				require.ErrorIs(t, call(), store.ErrClosed, name)
			}
			if !tc.own {
				_, err := cli.Get(ctx, kv.Key)
				require.NoError(t, err, "the wrapped client was closed")
			}
		})
	}
}

// TestWatchAbandoned: a consumer that stops reading does not keep the watch
// goroutine alive once its context is done, nor block Close.
func TestWatchAbandoned(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		end  func(s *etcdstore.Store, cancel context.CancelFunc)
	}{
		{"cancel", func(_ *etcdstore.Store, cancel context.CancelFunc) { cancel() }},
		{"close", func(s *etcdstore.Store, _ context.CancelFunc) { require.NoError(t, s.Close()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, srv, etcdstore.Options{})
			prefix := "/abandoned/" + tc.name + "/"
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			w, err := s.Watch(wctx, prefix, 0)
			require.NoError(t, err)
			// More events than the channel buffers, none read.
			for i := range 150 {
				_, err := s.Create(ctx, fmt.Sprintf("%sk%03d", prefix, i), []byte("v"), store.WriteOptions{})
				require.NoError(t, err)
			}
			tc.end(s, cancel)
			deadline := time.NewTimer(10 * time.Second)
			defer deadline.Stop()
			for {
				select {
				case ev, ok := <-w:
					if !ok {
						return
					}
					require.NotEqual(t, store.EventError, ev.Type, "error event after %s: %v", tc.name, ev.Err)
				case <-deadline.C:
					t.Fatal("watch channel not closed")
				}
			}
		})
	}
}

// TestTTL: keys with a TTL expire, watchers see a delete; Update without a
// TTL detaches the lease.
func TestTTL(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	s := newStore(t, srv, etcdstore.Options{})
	raw := rawClient(t, srv)
	ctx := t.Context()
	const p = "/ttl/"

	w, err := s.Watch(ctx, p, 0)
	require.NoError(t, err)
	kv, err := s.Create(ctx, p+"short", []byte("v"), store.WriteOptions{TTL: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, store.EventCreate, nextEvent(t, w).Type)
	ev := nextEvent(t, w) // within a few seconds: the TTL is rounded up to 1s
	require.Equal(t, store.EventDelete, ev.Type)
	require.Equal(t, kv.Key, ev.Key)
	require.Equal(t, "v", string(ev.PrevValue))
	_, err = s.Get(ctx, kv.Key)
	require.ErrorIs(t, err, store.ErrNotFound)

	leaseOf := func(key string) clientv3.LeaseID {
		t.Helper()
		resp, err := raw.Get(ctx, key)
		require.NoError(t, err)
		require.Len(t, resp.Kvs, 1)
		return clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	_, err = s.Create(ctx, p+"long", []byte("v"), store.WriteOptions{TTL: time.Hour})
	require.NoError(t, err)
	require.NotEqual(t, clientv3.NoLease, leaseOf(p+"long"))
	_, err = s.Update(ctx, p+"long", []byte("w"), 0, store.WriteOptions{})
	require.NoError(t, err)
	require.Equal(t, clientv3.NoLease, leaseOf(p+"long"), "Update without TTL keeps the lease")

	// A write that fails leaves no lease of its own behind.
	own := newStore(t, srv, etcdstore.Options{DisableLeaseReuse: true})
	before, err := raw.Leases(ctx)
	require.NoError(t, err)
	_, err = own.Create(ctx, p+"long", []byte("v"), store.WriteOptions{TTL: time.Hour})
	require.ErrorIs(t, err, store.ErrAlreadyExists)
	_, err = own.Update(ctx, p+"missing", []byte("v"), 0, store.WriteOptions{TTL: time.Hour})
	require.ErrorIs(t, err, store.ErrNotFound)
	after, err := raw.Leases(ctx)
	require.NoError(t, err)
	require.Len(t, after.Leases, len(before.Leases))
}

// TestLeaseReuse: writes with the same long TTL share a lease unless
// DisableLeaseReuse is set; short TTLs never do.
func TestLeaseReuse(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	raw := rawClient(t, srv)
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		disable bool
		ttl     time.Duration
		shared  bool
	}{
		{"long TTL", false, time.Minute, true},
		{"long TTL reuse disabled", true, time.Minute, false},
		{"short TTL", false, 5 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, srv, etcdstore.Options{DisableLeaseReuse: tc.disable})
			var leases []int64
			for i := range 3 {
				key := fmt.Sprintf("/lease/%s/%d", tc.name, i)
				_, err := s.Create(ctx, key, []byte("v"), store.WriteOptions{TTL: tc.ttl})
				require.NoError(t, err)
				resp, err := raw.Get(ctx, key)
				require.NoError(t, err)
				leases = append(leases, resp.Kvs[0].Lease)
				ttl, err := raw.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
				require.NoError(t, err)
				require.GreaterOrEqual(t, ttl.TTL, int64(tc.ttl/time.Second)-1, "remaining TTL")
			}
			if tc.shared {
				require.Equal(t, leases[0], leases[1])
				require.Equal(t, leases[0], leases[2])
			} else {
				require.NotEqual(t, leases[0], leases[1])
				require.NotEqual(t, leases[1], leases[2])
			}
		})
	}
}

// TestPrefix: stores with different prefixes on one server do not see each
// other's keys, and keys carry the prefix only inside etcd.
func TestPrefix(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	raw := rawClient(t, srv)
	ctx := t.Context()
	a := newStore(t, srv, etcdstore.Options{Prefix: "/a"})
	b := newStore(t, srv, etcdstore.Options{Prefix: "/b"})
	const key = "/registry/pods/default/web"

	wa, err := a.Watch(ctx, "/", 0)
	require.NoError(t, err)
	kva, err := a.Create(ctx, key, []byte("in a"), store.WriteOptions{})
	require.NoError(t, err)
	require.Equal(t, key, kva.Key)
	_, err = b.Get(ctx, key)
	require.ErrorIs(t, err, store.ErrNotFound)
	kvb, err := b.Create(ctx, key, []byte("in b"), store.WriteOptions{})
	require.NoError(t, err)

	for _, tc := range []struct {
		s    *etcdstore.Store
		raw  string
		want string
	}{{a, "/a" + key, "in a"}, {b, "/b" + key, "in b"}} {
		got, err := tc.s.Get(ctx, key)
		require.NoError(t, err)
		require.Equal(t, key, got.Key)
		require.Equal(t, tc.want, string(got.Value))
		res, err := tc.s.List(ctx, "/", store.ListOptions{})
		require.NoError(t, err)
		require.Len(t, res.Items, 1)
		require.Equal(t, key, res.Items[0].Key)
		resp, err := raw.Get(ctx, tc.raw)
		require.NoError(t, err)
		require.Len(t, resp.Kvs, 1)
		require.Equal(t, tc.want, string(resp.Kvs[0].Value))
	}

	_, err = b.Delete(ctx, key, kvb.ModRevision)
	require.NoError(t, err)
	_, err = a.Update(ctx, key, []byte("a2"), kva.ModRevision, store.WriteOptions{})
	require.NoError(t, err)
	for _, want := range []store.EventType{store.EventCreate, store.EventUpdate} {
		ev := nextEvent(t, wa)
		require.Equal(t, want, ev.Type, "a's watch saw %+v", ev)
		require.Equal(t, key, ev.Key)
	}
}

func TestTLSConfigFromFiles(t *testing.T) {
	dir := t.TempDir()
	_, client := etcdtest.WriteTLSFiles(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not pem"), 0o600))
	for _, tc := range []struct {
		name           string
		ca, cert, key  string
		ok, clientCert bool
	}{
		{"all three", client.CAFile, client.CertFile, client.KeyFile, true, true},
		{"CA only", client.CAFile, "", "", true, false},
		{"system roots with client cert", "", client.CertFile, client.KeyFile, true, true},
		{"cert without key", client.CAFile, client.CertFile, "", false, false},
		{"key without cert", client.CAFile, "", client.KeyFile, false, false},
		{"missing CA", missing, client.CertFile, client.KeyFile, false, false},
		{"missing cert", client.CAFile, missing, client.KeyFile, false, false},
		{"garbage CA", garbage, "", "", false, false},
		{"key of another file", client.CAFile, client.CertFile, client.CAFile, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := etcdstore.TLSConfigFromFiles(tc.ca, tc.cert, tc.key)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.ca != "", conf.RootCAs != nil, "RootCAs")
			require.Equal(t, tc.clientCert, conf.GetClientCertificate != nil || len(conf.Certificates) > 0, "client certificate")
		})
	}
}
