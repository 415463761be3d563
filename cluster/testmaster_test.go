package cluster_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/store/memory"
)

func TestStartTestMaster(t *testing.T) {
	t.Parallel()
	m := cluster.StartTestMaster(t)
	ctx := context.Background()

	ns, err := m.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "default", ns.Name)

	// An informer over a watch, ended by the test's cleanup.
	factory := informers.NewSharedInformerFactory(m.Client, 0)
	cms := factory.Core().V1().ConfigMaps().Informer()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	require.True(t, cache.WaitForCacheSync(stop, cms.HasSynced))
	_, err = m.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "seen"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, ok, _ := cms.GetStore().GetByKey("default/seen")
		return ok
	}, 10*time.Second, 5*time.Millisecond)

	tests := []struct {
		name string
		cfg  *rest.Config
		want func(error) bool
	}{
		{"other user", m.ConfigFor("jane", "dev"), func(err error) bool { return err == nil }},
		{"anonymous", &rest.Config{Host: m.URL, TLSClientConfig: rest.TLSClientConfig{CAData: m.CA.CertPEM()}}, apierrors.IsUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := kubernetes.NewForConfig(tt.cfg)
			require.NoError(t, err)
			_, err = cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			require.True(t, tt.want(err), "got %v", err)
		})
	}
}

// TestStartTestMasterParallel: test masters are independent.
func TestStartTestMasterParallel(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			m := cluster.StartTestMaster(t)
			name := fmt.Sprintf("only-%d", i)
			_, err := m.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			require.NoError(t, err)
			list, err := m.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
			require.NoError(t, err)
			require.Len(t, list.Items, 5, "4 system namespaces and %s", name)
		})
	}
}

// loopTB runs the cleanups of one benchmark iteration at once.
type loopTB struct {
	testing.TB
	cleanups []func()
}

func (l *loopTB) Cleanup(f func()) { l.cleanups = append(l.cleanups, f) }

func (l *loopTB) runCleanups() {
	for i := len(l.cleanups) - 1; i >= 0; i-- {
		l.cleanups[i]()
	}
	l.cleanups = nil
}

// BenchmarkStartTestMaster measures StartTestMaster, alone and with its
// first request (TLS handshake), against the baseline of a bare API
// server on the memory store behind a plain-HTTP httptest server.
func BenchmarkStartTestMaster(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline=plain-apiserver", func(b *testing.B) {
		for b.Loop() {
			st := memory.New(memory.Options{})
			srv, err := apiserver.New(apiserver.Options{Store: st})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.EnsureSystemObjects(ctx); err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(srv)
			b.StopTimer()
			hs.Close()
			st.Close()
			b.StartTimer()
		}
	})
	b.Run("start", func(b *testing.B) {
		for b.Loop() {
			tb := &loopTB{TB: b}
			cluster.StartTestMaster(tb)
			b.StopTimer()
			tb.runCleanups()
			b.StartTimer()
		}
	})
	b.Run("start+first-request", func(b *testing.B) {
		for b.Loop() {
			tb := &loopTB{TB: b}
			m := cluster.StartTestMaster(tb)
			if _, err := m.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			tb.runCleanups()
			b.StartTimer()
		}
	})
}
