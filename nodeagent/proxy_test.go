package nodeagent_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime/fake"
)

// TestNodeProxyToAgent reads the agent's /pods, /healthz and /metrics
// through the API server's nodes/<name>/proxy, as `kubectl get --raw`
// does.
func TestNodeProxyToAgent(t *testing.T) {
	rt, err := fake.New(fake.Options{Images: []string{"app:1"}})
	require.NoError(t, err)
	cs := apiServer(t)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "n1", Client: cs, Runtime: rt,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
		SyncInterval: 100 * time.Millisecond, StatusUpdateInterval: time.Second,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	pods := cs.CoreV1().Pods("default")
	_, err = pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the pod to run", 20*time.Second, func() (bool, error) {
		p, err := pods.Get(ctx, "app", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	rc := cs.CoreV1().RESTClient()
	var list corev1.PodList
	waitFor(t, "the node's agent to be reachable", 20*time.Second, func() (bool, error) {
		b, err := rc.Get().AbsPath("/api/v1/nodes/n1/proxy/pods").DoRaw(ctx)
		if err != nil {
			return false, nil // the node may not report its agent's port yet
		}
		return true, json.Unmarshal(b, &list)
	})
	require.Len(t, list.Items, 1)
	assert.Equal(t, "app", list.Items[0].Name)

	b, err := rc.Get().AbsPath("/api/v1/nodes/n1/proxy/healthz").DoRaw(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ok", string(b))
	b, err = rc.Get().AbsPath("/api/v1/nodes/n1/proxy/metrics").DoRaw(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(b), "\nnodeagent_running_pods 1\n")
}
