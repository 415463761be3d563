package restconfig_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/gantryhq/gantry/internal/restconfig"
)

func TestWithDefaults(t *testing.T) {
	base := &rest.Config{Host: "https://example"}
	cfg := restconfig.WithDefaults(base, "gantry-x", 50, 100)
	require.Equal(t, "gantry-x", cfg.UserAgent)
	require.EqualValues(t, 50, cfg.QPS)
	require.Equal(t, 100, cfg.Burst)
	require.Equal(t, &rest.Config{Host: "https://example"}, base, "the caller's config is not changed")

	for name, c := range map[string]*rest.Config{
		"qps":          {QPS: 3, Burst: 4, UserAgent: "mine"},
		"no limit":     {QPS: -1, Burst: 4, UserAgent: "mine"},
		"rate limiter": {RateLimiter: flowcontrol.NewFakeAlwaysRateLimiter(), Burst: 4, UserAgent: "mine"},
	} {
		got := restconfig.WithDefaults(c, "gantry-x", 50, 100)
		require.Equal(t, c.QPS, got.QPS, name)
		require.Equal(t, 4, got.Burst, name)
		require.Equal(t, "mine", got.UserAgent, name)
	}
}
