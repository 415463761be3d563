package apiserver_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/apiserver"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

// serverOn starts an API server over st and returns a clientset for it.
func serverOn(t *testing.T, e *etcdstore.Embedded) kubernetes.Interface {
	t.Helper()
	st, err := e.NewStore(etcdstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	srv, err := apiserver.New(apiserver.Options{Store: st})
	require.NoError(t, err)
	require.NoError(t, srv.EnsureSystemObjects(context.Background()))
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL, QPS: -1})
	require.NoError(t, err)
	return cs
}

// TestTwoServersOneEtcd: API servers are stateless; two over one etcd serve
// the same objects and each other's watches.
func TestTwoServersOneEtcd(t *testing.T) {
	e := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	a, b := serverOn(t, e), serverOn(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	list, err := b.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	w, err := b.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()

	const n = 50
	for i := range n {
		_, err := a.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "cm-" + string(rune('a'+i%26)) + string(rune('a'+i/26))},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for i := 0; i < n; i++ {
		select {
		case ev := <-w.ResultChan():
			require.Equal(t, watch.Added, ev.Type, "event %d: %+v", i, ev.Object)
		case <-ctx.Done():
			t.Fatalf("server b saw %d of %d creates made through server a", i, n)
		}
	}
	got, err := b.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, got.Items, n)

	// Optimistic concurrency holds across servers.
	cmA, err := a.CoreV1().ConfigMaps("default").Get(ctx, "cm-aa", metav1.GetOptions{})
	require.NoError(t, err)
	cmB := cmA.DeepCopy()
	cmA.Data = map[string]string{"by": "a"}
	_, err = a.CoreV1().ConfigMaps("default").Update(ctx, cmA, metav1.UpdateOptions{})
	require.NoError(t, err)
	cmB.Data = map[string]string{"by": "b"}
	_, err = b.CoreV1().ConfigMaps("default").Update(ctx, cmB, metav1.UpdateOptions{})
	require.Error(t, err, "the stale update through b must conflict")
}

// TestInformers: client-go shared informers list and watch through the
// server and see every change.
func TestInformers(t *testing.T) {
	e := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	cs := serverOn(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	factory := informers.NewSharedInformerFactory(cs, 0)
	pods := factory.Core().V1().Pods()
	inf := pods.Informer()
	deleted := make(chan string, 10)
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				deleted <- p.Name
			}
		},
	})
	require.NoError(t, err)
	factory.Start(ctx.Done())
	defer func() {
		cancel() // stops the informers; Shutdown waits for them
		factory.Shutdown()
	}()
	require.True(t, cache.WaitForCacheSync(ctx.Done(), inf.HasSynced))

	for _, name := range []string{"p1", "p2", "p3"} {
		_, err := cs.CoreV1().Pods("default").Create(ctx, testPod(name), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		l, err := pods.Lister().Pods("default").List(everything())
		return err == nil && len(l) == 3
	}, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, "p2", metav1.DeleteOptions{}))
	select {
	case name := <-deleted:
		require.Equal(t, "p2", name)
	case <-ctx.Done():
		t.Fatal("the informer saw no delete")
	}
}
