package store_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/memory"
)

// benchListSize is the number of keys a list benchmark reads.
const benchListSize = 100

// benchOps are the operations of BenchmarkStore, each run sequentially (one
// request at a time), so ops/s is the inverse of the latency:
//
//   - put: a compare-and-swap update of one key with its known revision
//     (clientv3: the same transaction, without reading the previous value,
//     which store/etcd does to return the create revision);
//   - get: a read of one key;
//   - list: a read of benchListSize keys under one prefix;
//   - watch: one write, then waiting until the watcher has received it. The
//     write is the same for etcd and clientv3 (a clientv3 Put), so the
//     difference is the watch path.
type benchOps struct {
	put, get, list, watch func(ctx context.Context) error
	// startWatch starts the watch of the watch benchmark, untimed.
	startWatch func(ctx context.Context) error
}

// BenchmarkStore measures store/memory, store/etcd and raw clientv3 on one
// embedded etcd server started once, and prints the ops/s of each store/etcd
// operation relative to raw clientv3 measured in the same run:
//
//	go test ./store -run '^$' -bench BenchmarkStore
//
// The server runs without fsync, so that the client side weighs more in the
// ratios. The ratios use the median of the runs: on a shared machine, use
// -count 5 or more.
func BenchmarkStore(b *testing.B) {
	ctx := b.Context()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	srv, err := etcdstore.StartEmbedded(startCtx, etcdstore.EmbeddedOptions{TempDir: true, UnsafeNoFsync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	raw, err := srv.NewClient()
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	// The clientv3 watch runs on a connection of its own, like the
	// store/etcd one, while both are written to through raw.
	watcher, err := srv.NewClient()
	if err != nil {
		b.Fatal(err)
	}
	defer watcher.Close()
	es, err := srv.NewStore(etcdstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer es.Close()
	backends := []struct {
		name  string
		setup func(b *testing.B, prefix string) benchOps
	}{
		{"memory", func(b *testing.B, prefix string) benchOps {
			// A store per run: its history would otherwise grow the heap
			// that the later runs garbage-collect.
			ms := memory.New(memory.Options{})
			b.Cleanup(func() { ms.Close() })
			return storeOps(b, ms, prefix, func(ctx context.Context, key string, v []byte) error {
				_, err := ms.Update(ctx, key, v, 0, store.WriteOptions{})
				return err
			})
		}},
		{"etcd", func(b *testing.B, prefix string) benchOps {
			return storeOps(b, es, prefix, func(ctx context.Context, key string, v []byte) error {
				_, err := raw.Put(ctx, key, string(v))
				return err
			})
		}},
		{"clientv3", func(b *testing.B, prefix string) benchOps {
			return clientOps(b, raw, watcher, prefix)
		}},
	}
	ops := []string{"put", "get", "list", "watch"}
	opsPerSec := map[string]map[string][]float64{} // op -> backend -> ops/s of each run
	runs := 0                                      // for a fresh key prefix per run

	// Operations outer, backends inner: the runs compared in a ratio are
	// next to each other in time, which matters on a shared machine.
	for _, op := range ops {
		for _, be := range backends {
			b.Run("backend="+be.name+"/op="+op, func(b *testing.B) {
				runs++
				prefix := fmt.Sprintf("/bench/%s/%s/%d/", be.name, op, runs)
				o := be.setup(b, prefix)
				f := map[string]func(context.Context) error{"put": o.put, "get": o.get, "list": o.list, "watch": o.watch}[op]
				if op == "watch" {
					if err := o.startWatch(ctx); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				for b.Loop() {
					if err := f(ctx); err != nil {
						b.Fatal(err)
					}
				}
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "ops/s")
				if opsPerSec[op] == nil {
					opsPerSec[op] = map[string][]float64{}
				}
				opsPerSec[op][be.name] = append(opsPerSec[op][be.name], rate)
			})
		}
	}

	var lines []string
	for _, op := range ops {
		e, c := median(opsPerSec[op]["etcd"]), median(opsPerSec[op]["clientv3"])
		if e > 0 && c > 0 {
			lines = append(lines, fmt.Sprintf("ratio etcd/clientv3 op=%s: %.2f (%.0f vs %.0f ops/s, median of %d runs)",
				op, e/c, e, c, len(opsPerSec[op]["etcd"])))
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}

// median returns the median of xs, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = append([]float64(nil), xs...)
	sort.Float64s(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// storeOps returns the operations on a store.Store under prefix. write is
// how the watch benchmark makes its changes.
func storeOps(b *testing.B, s store.Store, prefix string, write func(context.Context, string, []byte) error) benchOps {
	b.Helper()
	ctx := b.Context()
	keys := seed(b, prefix, func(key string, v []byte) error {
		_, err := s.Create(ctx, key, v, store.WriteOptions{})
		return err
	})
	putKey := keys[0]
	kv, err := s.Get(ctx, putKey)
	if err != nil {
		b.Fatal(err)
	}
	putRev := kv.ModRevision
	value := []byte("value-0000000000")

	var events <-chan store.Event
	watchKey := prefix + "watched/k"
	return benchOps{
		put: func(ctx context.Context) error {
			kv, err := s.Update(ctx, putKey, value, putRev, store.WriteOptions{})
			if err != nil {
				return err
			}
			putRev = kv.ModRevision
			return nil
		},
		get: func(ctx context.Context) error {
			_, err := s.Get(ctx, putKey)
			return err
		},
		list: func(ctx context.Context) error {
			res, err := s.List(ctx, prefix, store.ListOptions{})
			if err == nil && len(res.Items) != benchListSize {
				err = fmt.Errorf("listed %d keys, want %d", len(res.Items), benchListSize)
			}
			return err
		},
		startWatch: func(ctx context.Context) error {
			if _, err := s.Create(ctx, watchKey, value, store.WriteOptions{}); err != nil {
				return err
			}
			w, err := s.Watch(ctx, prefix+"watched/", 0)
			events = w
			return err
		},
		watch: func(ctx context.Context) error {
			if err := write(ctx, watchKey, value); err != nil {
				return err
			}
			ev, ok := <-events
			if !ok || ev.Type != store.EventUpdate {
				return fmt.Errorf("watch: got %v (open %v)", ev, ok)
			}
			return nil
		},
	}
}

// clientOps returns the same operations done with clientv3 directly; the
// watch benchmark watches through w.
func clientOps(b *testing.B, c, w *clientv3.Client, prefix string) benchOps {
	b.Helper()
	keys := seed(b, prefix, func(key string, v []byte) error {
		_, err := c.Put(b.Context(), key, string(v))
		return err
	})
	putKey := keys[0]
	resp, err := c.Get(b.Context(), putKey)
	if err != nil {
		b.Fatal(err)
	}
	putRev := resp.Kvs[0].ModRevision
	value := "value-0000000000"
	var events clientv3.WatchChan
	watchKey := prefix + "watched/k"
	return benchOps{
		put: func(ctx context.Context) error {
			resp, err := c.Txn(ctx).
				If(clientv3.Compare(clientv3.ModRevision(putKey), "=", putRev)).
				Then(clientv3.OpPut(putKey, value)).
				Commit()
			if err == nil && !resp.Succeeded {
				err = fmt.Errorf("compare-and-swap of %s at %d failed", putKey, putRev)
			}
			if err != nil {
				return err
			}
			putRev = resp.Header.Revision
			return nil
		},
		get: func(ctx context.Context) error {
			_, err := c.Get(ctx, putKey)
			return err
		},
		list: func(ctx context.Context) error {
			resp, err := c.Get(ctx, prefix, clientv3.WithPrefix())
			if err == nil && len(resp.Kvs) != benchListSize {
				err = fmt.Errorf("listed %d keys, want %d", len(resp.Kvs), benchListSize)
			}
			return err
		},
		startWatch: func(ctx context.Context) error {
			events = w.Watch(ctx, prefix+"watched/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
			if resp, ok := <-events; !ok || !resp.Created {
				return fmt.Errorf("watch not created: %v", resp.Err())
			}
			return nil
		},
		watch: func(ctx context.Context) error {
			if _, err := c.Put(ctx, watchKey, value); err != nil {
				return err
			}
			resp, ok := <-events
			if !ok || len(resp.Events) != 1 {
				return fmt.Errorf("watch: got %+v (open %v)", resp, ok)
			}
			return nil
		},
	}
}

// seed writes benchListSize keys under prefix with 100-byte values and
// returns them.
func seed(b *testing.B, prefix string, put func(string, []byte) error) []string {
	b.Helper()
	value := make([]byte, 100)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	keys := make([]string, benchListSize)
	for i := range keys {
		keys[i] = prefix + "k" + strconv.Itoa(1000+i)
		if err := put(keys[i], value); err != nil {
			b.Fatal(err)
		}
	}
	return keys
}
