package runtimetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime/images"
)

// DockerClient returns a client of the Docker daemon the environment names
// (DOCKER_HOST, else the local socket), negotiating the API version, and
// closes it when the test ends.
//
// When no daemon answers within a few seconds the test is skipped with a
// message saying so, or fails when the environment variable CI is set: on CI
// the test command starts dockerd, so a missing daemon is a broken setup.
func DockerClient(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		missingDocker(t, err)
		return nil
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		missingDocker(t, err)
		return nil
	}
	return cli
}

func missingDocker(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("no Docker daemon (CI is set, so this is a failure; hack/test starts dockerd): %v", err)
	}
	t.Skipf("skipping: no Docker daemon answers (%v); start dockerd, or run hack/test", err)
}

// EnsureImages builds the test images gantry.local/busybox, pause and echo
// (images.Build) in the daemon behind docker, or fails the test. It is cheap
// when they are current and safe to call from parallel tests and processes.
func EnsureImages(ctx context.Context, t testing.TB, docker client.APIClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := images.Build(ctx, docker); err != nil {
		t.Fatalf("building test images: %v", err)
	}
}
