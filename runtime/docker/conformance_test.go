package docker_test

import (
	"context"
	"crypto/rand"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/docker"
	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	cli := runtimetest.DockerClient(t)
	runtimetest.EnsureImages(t.Context(), t, cli)
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		return newRuntime(t, cli, docker.Options{})
	},
		runtimetest.Network(func(t *testing.T) runtime.NetworkConfig { return testNetwork(t, cli) }),
		runtimetest.RemovableImage(func(t *testing.T, _ runtime.Runtime) string {
			ref := "gantry.local/rmtest-" + strings.ToLower(rand.Text()[:10]) + ":1"
			_, err := cli.ImageTag(t.Context(), client.ImageTagOptions{Source: images.Busybox, Target: ref})
			require.NoError(t, err)
			t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}) })
			return ref
		}),
	)
}

// newRuntime returns a docker runtime on cli for one test.
func newRuntime(t *testing.T, cli client.APIClient, opts docker.Options) *docker.Runtime {
	t.Helper()
	opts.Client = cli
	rt, err := docker.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// testNetwork returns a bridge network name unique to this test and a random
// /24 in 10.128.0.0/9 for it, and removes the network when the test ends
// (after its sandboxes: cleanups run last-registered first).
func testNetwork(t *testing.T, cli client.APIClient) runtime.NetworkConfig {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1<<15))
	require.NoError(t, err)
	v := n.Int64()
	nc := runtime.NetworkConfig{
		Bridge: "gt" + strings.ToLower(rand.Text()[:10]),
		Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + v>>8), byte(v), 0}), 24),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.NetworkRemove(ctx, nc.Bridge, client.NetworkRemoveOptions{}); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("cleanup: removing network %s: %v", nc.Bridge, err)
		}
	})
	return nc
}
