package controller_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
)

func TestEnabled(t *testing.T) {
	tests := []struct {
		name     string
		disabled bool
		list     []string
		want     bool
	}{
		{"a", false, []string{"*"}, true},
		{"a", true, []string{"*"}, false},
		{"a", true, []string{"*", "a"}, true},
		{"a", false, []string{"*", "-a"}, false},
		{"a", false, []string{"b"}, false},
		{"a", false, []string{"a"}, true},
		{"a", false, nil, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.list, ","), func(t *testing.T) {
			require.Equal(t, tt.want, controller.Enabled(tt.name, tt.disabled, tt.list))
		})
	}
}

func TestControllerWatchRetryRequeueAfter(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := clocktesting.NewFakeClock(time.Now())

	var mu sync.Mutex
	calls := map[string]int{}
	rec := controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[req.Name]++
		switch {
		case req.Name == "fail" && calls[req.Name] < 3:
			return controller.Result{}, errors.New("boom")
		case req.Name == "later" && calls[req.Name] == 1:
			return controller.Result{RequeueAfter: time.Minute}, nil
		}
		return controller.Result{}, nil
	})
	c, err := controller.New(controller.Options{
		Name: "test", Reconciler: rec, Workers: 2, Clock: clk,
		RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[controller.Request](0, 0),
	})
	require.NoError(t, err)
	f := informers.NewSharedInformerFactory(s.Client, 0)
	require.NoError(t, c.Watch(f.Core().V1().ConfigMaps().Informer(), controller.ForObject()))
	f.Start(ctx.Done())
	done := make(chan error)
	go func() { done <- c.Start(ctx) }()

	for _, n := range []string{"ok", "fail", "later"} {
		_, err := s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	get := func(n string) int { mu.Lock(); defer mu.Unlock(); return calls[n] }
	controllertest.Eventually(t, 10*time.Second, "fail retried until success", func() (bool, error) {
		return get("fail") == 3 && get("ok") == 1 && get("later") == 1, nil
	})
	require.Equal(t, 1, get("later"))
	controllertest.Eventually(t, 10*time.Second, "RequeueAfter waits on the clock", func() (bool, error) {
		return clk.HasWaiters(), nil
	})
	clk.Step(time.Minute)
	controllertest.Eventually(t, 10*time.Second, "later requeued", func() (bool, error) { return get("later") == 2, nil })
	c.Enqueue(controller.Request{NamespacedName: types.NamespacedName{Name: "direct"}})
	controllertest.Eventually(t, 10*time.Second, "direct enqueue", func() (bool, error) { return get("direct") == 1, nil })
	cancel()
	require.NoError(t, <-done)
}

func TestManagerHealthMetricsAndSelection(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client, Controllers: []string{"*", "-off"}, Address: "127.0.0.1:0"})
	require.NoError(t, err)
	var ran atomic.Int32
	for _, n := range []string{"on", "off", "optin"} {
		require.NoError(t, m.Register(controller.Registration{Name: n, DisabledByDefault: n == "optin", Setup: func(ctx context.Context, m *controller.Manager) (controller.Runnable, error) {
			ran.Add(1)
			c, err := controller.New(controller.Options{Name: n, Metrics: m.Metrics(), Reconciler: controller.ReconcilerFunc(func(context.Context, controller.Request) (controller.Result, error) {
				return controller.Result{}, errors.New("always")
			})})
			if err != nil {
				return nil, err
			}
			c.Enqueue(controller.Request{NamespacedName: types.NamespacedName{Name: "x"}})
			return c, nil
		}}))
	}
	require.Error(t, m.Register(controller.Registration{Name: "on", Setup: func(context.Context, *controller.Manager) (controller.Runnable, error) { return nil, nil }}))
	require.Equal(t, []string{"on"}, m.EnabledNames())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Start(ctx) }()
	controllertest.Eventually(t, 10*time.Second, "leader", func() (bool, error) { return m.IsLeader() && m.Addr() != nil, nil })
	require.EqualValues(t, 1, ran.Load())

	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	for _, u := range []string{hs.URL, "http://" + m.Addr().String()} {
		resp, err := hs.Client().Get(u + "/healthz")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, "ok", string(b))
	}
	controllertest.Eventually(t, 10*time.Second, "metrics", func() (bool, error) {
		resp, err := hs.Client().Get(hs.URL + "/metrics")
		if err != nil {
			return false, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		return strings.Contains(body, `controller_reconcile_errors_total{controller="on"}`) &&
			strings.Contains(body, `workqueue_depth{controller="on"}`) &&
			strings.Contains(body, `controller_reconcile_duration_seconds_bucket{controller="on"`), nil
	})
	cancel()
	require.NoError(t, <-done)
}

func TestManagerUnknownController(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client, Controllers: []string{"nope"}})
	require.NoError(t, err)
	require.ErrorContains(t, m.Start(context.Background()), "nope")
}

func TestManagerLeaderFailover(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	newM := func(id string) *controller.Manager {
		m, err := controller.NewManager(controller.ManagerOptions{
			Client: s.Client, LeaderElect: true, Identity: id,
			LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond,
		})
		require.NoError(t, err)
		return m
	}
	a, b := newM("a"), newM("b")
	ctxA, cancelA := context.WithCancel(context.Background())
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Start(ctxA) }()
	controllertest.Eventually(t, 10*time.Second, "a leads", func() (bool, error) { return a.IsLeader(), nil })
	go func() { doneB <- b.Start(ctxB) }()
	for range 5 {
		// b keeps retrying while a holds the lease.
		<-time.After(100 * time.Millisecond)
		require.False(t, b.IsLeader())
		require.True(t, a.IsLeader())
	}
	lease, err := s.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), "gantry-controller-manager", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "a", *lease.Spec.HolderIdentity)
	cancelA()
	require.NoError(t, <-doneA)
	controllertest.Eventually(t, 10*time.Second, "b takes over", func() (bool, error) { return b.IsLeader(), nil })
	cancelB()
	require.NoError(t, <-doneB)
}
