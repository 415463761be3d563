package resourcequota_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/resourcequota"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

// TestTwoServersOneEtcd: two API servers over one etcd, each with its own
// plugin, charge one quota with compare-and-swap on etcd revisions: 20
// concurrent creates through both never exceed pods=5.
func TestTwoServersOneEtcd(t *testing.T) {
	e := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	var clients []*apiservertest.Server
	for range 2 {
		st, err := e.NewStore(etcdstore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		p, err := resourcequota.New(resourcequota.Options{Store: st})
		require.NoError(t, err)
		clients = append(clients, apiservertest.Start(t, apiserver.Options{Store: st, Admission: []any{p}}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rq := quota("q", corev1.ResourceList{"pods": q("5")}, nil)
	rq.Namespace = "default"
	_, err := clients[0].Client.CoreV1().ResourceQuotas("default").Create(ctx, rq, metav1.CreateOptions{})
	require.NoError(t, err)

	var admitted atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			p := pod(fmt.Sprint("p", i), "")
			p.Namespace = ""
			_, err := clients[i%2].Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			switch {
			case err == nil:
				admitted.Add(1)
			case !apierrors.IsForbidden(err):
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 5, admitted.Load())
	rq, err = clients[1].Client.CoreV1().ResourceQuotas("default").Get(ctx, "q", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "5", ptr(rq.Status.Used["pods"]))
	pods, err := clients[1].Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 5)
}
