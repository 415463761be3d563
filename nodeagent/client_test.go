package nodeagent_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/nodeagent"
)

func TestClientConfig(t *testing.T) {
	// The kubelet's rate, not client-go's (internal/restconfig tests the rest).
	cfg := nodeagent.ClientConfig(&rest.Config{})
	require.EqualValues(t, 50, cfg.QPS)
	require.Equal(t, 100, cfg.Burst)
	require.Equal(t, "gantry-node", cfg.UserAgent)
}
