package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
)

// Start an embedded etcd server, as the single-binary master does, and use
// it through the Store interface.
func ExampleStartEmbedded() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "example-etcd-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedOptions{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	s, err := srv.NewStore(etcdstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	key := store.ObjectKey("pods", "default", "web")
	kv, err := s.Create(ctx, key, []byte(`{"kind":"Pod"}`), store.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = s.Update(ctx, key, []byte(`{"kind":"Pod","spec":{}}`), kv.ModRevision-1, store.WriteOptions{})
	fmt.Println(err != nil && errors.Is(err, store.ErrConflict))
	// Output: true
}

// Connect to an external etcd cluster that requires client certificates,
// with the flags kube-apiserver would get.
func ExampleNew() {
	tlsConf, err := etcdstore.TLSConfigFromFiles(
		"/etc/kubernetes/pki/etcd/ca.crt",               // --etcd-cafile
		"/etc/kubernetes/pki/apiserver-etcd-client.crt", // --etcd-certfile
		"/etc/kubernetes/pki/apiserver-etcd-client.key", // --etcd-keyfile
	)
	if err != nil {
		log.Fatal(err)
	}
	s, err := etcdstore.New(etcdstore.Options{
		Endpoints:   []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"}, // --etcd-servers
		TLS:         tlsConf,
		DialTimeout: 10 * time.Second,
		Prefix:      "/gantry", // --etcd-prefix
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	res, err := s.List(ctx, store.ObjectPrefix("pods", "default"), store.ListOptions{Limit: 500})
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range res.Items {
		fmt.Println(kv.Key)
	}
}

// Watch a prefix from the revision of a list, the informer pattern.
func ExampleStore_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedOptions{TempDir: true, FastTicks: true})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	s, err := srv.NewStore(etcdstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	prefix := store.ObjectPrefix("nodes", "")
	list, err := s.List(ctx, prefix, store.ListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	events, err := s.Watch(ctx, prefix, list.Revision)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Create(ctx, prefix+"node-1", []byte("ready"), store.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
	ev := <-events
	fmt.Println(ev.Type, ev.Key, string(ev.Value))
	// Output: CREATE /registry/nodes/node-1 ready
}
