// Package etcd implements [store.Store] on etcd v3 through
// go.etcd.io/etcd/client/v3, and starts an embedded etcd server for
// single-binary control planes and tests.
//
// Import it under a name of your choice; etcdstore reads well:
//
//	import etcdstore "github.com/gantryhq/gantry/store/etcd"
//
// # Connecting
//
// [New] connects to an etcd cluster, embedded or external: list the client
// URLs in [Options.Endpoints] (kube-apiserver's --etcd-servers), give
// [Options.TLS] for a cluster that requires client certificates (build it from
// the --etcd-cafile/--etcd-certfile/--etcd-keyfile files with
// [TLSConfigFromFiles]), or wrap a client you already have with
// [Options.Client]. [Options.Prefix] puts every key under a namespace, like
// kube-apiserver's --etcd-prefix, so that several control planes can share one
// cluster.
//
// # Embedded server
//
// [StartEmbedded] runs an etcd member inside the process on 127.0.0.1, with
// ports the operating system chooses unless fixed ones are given; its data
// directory survives restarts. [Embedded.NewStore] returns a Store connected to
// it.
//
// # How store semantics map onto etcd
//
//   - Create is a transaction "if CreateRevision(key) == 0 then Put";
//   - Update and Delete compare ModRevision(key) with the expected revision
//     (or with 0, so that the key must exist) and read the key in the else
//     branch to tell ErrConflict from ErrNotFound;
//   - a TTL is an etcd lease, rounded up to whole seconds (and to etcd's
//     minimum lease TTL, about 1.5 election timeouts); leases are shared
//     between writes with the same TTL (see [Options.DisableLeaseReuse]);
//   - List pages are read at the revision of the first page, with the shared
//     continue tokens of package store;
//   - Watch is a clientv3 watch with WithPrevKV, started after afterRevision;
//     it rides out leader elections and fails on a member cut off from the
//     majority.
//
// # Logs
//
// The etcd client and server log through zap. By default only errors are
// written, to stderr; [ZapLogger] routes them to a log/slog logger.
//
// etcd errors are translated into the sentinel errors of package store
// (ErrCompacted, ErrFutureRevision, ...) and wrapped with the key they concern.
package etcd
