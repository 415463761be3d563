package nodeagent_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/nodeagent"
)

func TestClientConfig(t *testing.T) {
	base := &rest.Config{Host: "https://example"}
	cfg := nodeagent.ClientConfig(base)
	require.EqualValues(t, nodeagent.DefaultClientQPS, cfg.QPS)
	require.Equal(t, nodeagent.DefaultClientBurst, cfg.Burst)
	require.Equal(t, "gantry-node", cfg.UserAgent)
	require.Zero(t, base.QPS, "the caller's config is not changed")
	mine := nodeagent.ClientConfig(&rest.Config{QPS: 3, Burst: 4, UserAgent: "mine"})
	require.EqualValues(t, 3, mine.QPS)
	require.Equal(t, 4, mine.Burst)
	require.Equal(t, "mine", mine.UserAgent)
}
