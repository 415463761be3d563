package nodeagent_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime/fake"
)

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestManualNodeAdministration: with registration disabled
// (--register-node=false) the agent does not create its Node; it waits,
// retrying on its clock, until an administrator has, then heartbeats.
func TestManualNodeAdministration(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{})
	admin := s.Client
	var nodeGets atomic.Int64
	cfg := rest.CopyConfig(s.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes/manual" {
				nodeGets.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt, err := fake.New(fake.Options{Clock: clk})
	require.NoError(t, err)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "manual", Client: cs, Runtime: rt, Clock: clk, DisableRegistration: true, RootDir: t.TempDir(),
		Labels: map[string]string{"tier": "gold"},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	require.Eventually(t, func() bool { return nodeGets.Load() >= 1 }, 10*time.Second, 5*time.Millisecond, "the agent never looked for its Node")
	_, err = admin.CoreV1().Nodes().Get(ctx, "manual", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the agent created its Node: %v", err)

	_, err = admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "manual", Labels: map[string]string{"set-by": "admin"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// The next attempt comes one second later on the agent's clock.
	require.Eventually(t, func() bool {
		clk.Step(time.Second)
		n, err := admin.CoreV1().Nodes().Get(ctx, "manual", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "the node never turned Ready")
	_, err = admin.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "manual", metav1.GetOptions{})
	require.NoError(t, err, "no lease")
	n, err := admin.CoreV1().Nodes().Get(ctx, "manual", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"set-by": "admin"}, n.Labels, "the agent changed the administrator's labels")
}
