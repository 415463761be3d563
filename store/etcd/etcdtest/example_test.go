package etcdtest_test

import (
	"testing"

	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

// A test of what a 3-member cluster does when one member is down.
func ExampleStartProcess() {
	_ = func(t *testing.T) {
		c := etcdtest.StartProcess(t, 3) // stopped in t.Cleanup
		s, err := etcdstore.New(etcdstore.Options{Endpoints: c.Endpoints()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()

		c.StopMember(t, 0)
		if _, err := s.Create(t.Context(), "/registry/x", []byte("v"), store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.StartMember(t, 0)
	}
}

// A test against an in-process server.
func ExampleStartEmbedded() {
	_ = func(t *testing.T) {
		srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{}) // closed in t.Cleanup
		s, err := srv.NewStore(etcdstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
}
