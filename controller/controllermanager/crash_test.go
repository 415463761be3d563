package controllermanager_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllermanager"
	"github.com/gantryhq/gantry/controller/controllertest"
)

var errCrashed = errors.New("controller manager crashed")

// crashSwitch stands between one controller manager and the API server.
// Until Crash it passes requests through; from then on every request fails
// and the responses still streaming (watches) are cut, which is all the
// API server sees of a process that died: nothing is released, the Lease
// just stops being renewed.
type crashSwitch struct {
	mu      sync.Mutex
	crashed bool
	open    map[*switchedBody]struct{}
}

func newCrashSwitch() *crashSwitch { return &crashSwitch{open: map[*switchedBody]struct{}{}} }

// Wrap returns a rest.Config WrapTransport that routes through the switch
// after wrap (the config's own wrapper, may be nil).
func (c *crashSwitch) Wrap(wrap transport.WrapperFunc) transport.WrapperFunc {
	return func(next http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			next = wrap(next)
		}
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if c.isCrashed() {
				return nil, errCrashed
			}
			resp, err := next.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.crashed {
				_ = resp.Body.Close()
				return nil, errCrashed
			}
			b := &switchedBody{ReadCloser: resp.Body, c: c}
			c.open[b] = struct{}{}
			resp.Body = b
			return resp, nil
		})
	}
}

func (c *crashSwitch) isCrashed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crashed
}

// Crash fails every later request and cuts the open responses.
func (c *crashSwitch) Crash() {
	c.mu.Lock()
	c.crashed = true
	open := make([]*switchedBody, 0, len(c.open))
	for b := range c.open {
		open = append(open, b)
	}
	c.mu.Unlock()
	for _, b := range open {
		_ = b.Close()
	}
}

type switchedBody struct {
	io.ReadCloser
	c    *crashSwitch
	once sync.Once
	err  error
}

func (b *switchedBody) Close() error {
	b.once.Do(func() {
		b.c.mu.Lock()
		delete(b.c.open, b)
		b.c.mu.Unlock()
		b.err = b.ReadCloser.Close()
	})
	return b.err
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestCrashFailover runs two controller managers on one API server and
// crashes the leader: its requests fail from one moment on and it never
// releases its Lease. The standby must wait for the Lease to expire (not
// take it over while the crashed leader could still believe it leads), take
// over within LeaseDuration+RenewDeadline, and keep reconciling: a deleted
// pod of a ReplicaSet is replaced.
func TestCrashFailover(t *testing.T) {
	const (
		leaseDuration = 2 * time.Second // whole seconds: Leases store seconds
		renewDeadline = time.Second
		retryPeriod   = 100 * time.Millisecond
	)
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	ctx := context.Background()
	newCM := func(id string, cfg *rest.Config) *controllermanager.ControllerManager {
		cm, err := controllermanager.NewControllerManager(controllermanager.Options{
			Config: cfg, LeaderElect: true, Identity: id, Controllers: []string{"replicaset"},
			LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		})
		require.NoError(t, err)
		return cm
	}
	sw := newCrashSwitch()
	cfgA := rest.CopyConfig(s.Config)
	cfgA.WrapTransport = sw.Wrap(s.Config.WrapTransport)
	a, b := newCM("a", cfgA), newCM("b", s.Config)

	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	controllertest.Eventually(t, wait, "a leads", func() (bool, error) { return a.IsLeader(), nil })
	go func() { doneB <- b.Run(ctxB) }()
	t.Cleanup(func() {
		stopA()
		stopB()
		require.NoError(t, <-doneB)
	})

	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
			},
		},
	}
	_, err := cs.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
	require.NoError(t, err)
	var pods []corev1.Pod
	controllertest.Eventually(t, wait, "a created 3 pods", func() (bool, error) {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err == nil {
			pods = l.Items
		}
		return err == nil && len(pods) == 3, err
	})
	require.False(t, b.IsLeader())

	sw.Crash()
	crashed := time.Now()
	// A cannot write any more: the Lease holds its last renewal.
	lease, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, "gantry-controller-manager", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "a", *lease.Spec.HolderIdentity)
	lastRenew := lease.Spec.RenewTime.Time

	controllertest.Eventually(t, wait, "b takes over", func() (bool, error) { return b.IsLeader(), nil })
	took := time.Since(crashed)
	t.Logf("b leads %v after a crashed (LeaseDuration %v, RenewDeadline %v)", took, leaseDuration, renewDeadline)
	require.LessOrEqual(t, took, leaseDuration+renewDeadline, "takeover time")
	lease, err = cs.CoordinationV1().Leases("kube-system").Get(ctx, "gantry-controller-manager", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "b", *lease.Spec.HolderIdentity)
	// client-go's elector notices a renewal by comparing the record with
	// times in whole seconds, so it measures the lease from the first
	// renewal within the second of a's last one.
	expiry := lastRenew.Truncate(time.Second).Add(leaseDuration)
	require.False(t, lease.Spec.AcquireTime.Time.Before(expiry),
		"b acquired at %v, before a's lease (renewed %v) expired", lease.Spec.AcquireTime.Time, lastRenew)

	// A notices it cannot renew and stops with ErrLeadershipLost.
	select {
	case err := <-doneA:
		require.ErrorIs(t, err, controller.ErrLeadershipLost)
	case <-time.After(wait):
		t.Fatal("crashed manager did not stop")
	}
	require.False(t, a.IsLeader())

	// B reconciles: a deleted pod is replaced.
	gone := pods[0].Name
	require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, gone, metav1.DeleteOptions{}))
	controllertest.Eventually(t, wait, "b replaced the deleted pod", func() (bool, error) {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		for _, p := range l.Items {
			if p.Name == gone {
				return false, nil
			}
		}
		return len(l.Items) == 3, nil
	})
}
