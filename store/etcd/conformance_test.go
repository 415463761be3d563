package etcd_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
	"github.com/gantryhq/gantry/store/storetest"
)

// The conformance suite runs against one server per test, with a fresh
// client (a new Store) per subtest, since subtests close their store.

func TestConformanceEmbedded(t *testing.T) {
	t.Parallel()
	srv := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		s, err := srv.NewStore(etcdstore.Options{})
		require.NoError(t, err)
		return storetest.Backend{Store: s}
	})
}

// TestConformanceExternal runs the suite against Debian's etcd binary (v3.4),
// with every key under a prefix, as with kube-apiserver's --etcd-prefix.
func TestConformanceExternal(t *testing.T) {
	t.Parallel()
	c := etcdtest.StartProcess(t, 1)
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		s, err := etcdstore.New(etcdstore.Options{Endpoints: c.Endpoints(), Prefix: "/gantry"})
		require.NoError(t, err)
		return storetest.Backend{Store: s}
	})
}
