package etcdtest

import (
	"context"
	"testing"
	"time"

	etcdstore "github.com/gantryhq/gantry/store/etcd"
)

// StartEmbedded starts an embedded etcd server for the test and closes it in
// t.Cleanup. Unless opts say otherwise it keeps its data under t.TempDir();
// it always uses FastTicks and UnsafeNoFsync, so that it starts in a
// fraction of a second.
func StartEmbedded(t testing.TB, opts etcdstore.EmbeddedOptions) *etcdstore.Embedded {
	t.Helper()
	if opts.DataDir == "" && !opts.TempDir {
		opts.DataDir = t.TempDir()
	}
	opts.FastTicks = true
	opts.UnsafeNoFsync = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := etcdstore.StartEmbedded(ctx, opts)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("etcdtest: close embedded etcd: %v", err)
		}
	})
	return e
}
