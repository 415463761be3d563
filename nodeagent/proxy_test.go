package nodeagent_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/runtime/fake"
)

// TestNodeProxyToAgent reads the agent's /pods, /healthz and /metrics
// through the API server's nodes/<name>/proxy, as `kubectl get --raw`
// does.
func TestNodeProxyToAgent(t *testing.T) {
	cs := fakeAgentWithApp(t, fake.Options{Images: []string{"app:1"}})
	ctx := context.Background()
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
