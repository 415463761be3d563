package runtimetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Helpers for benchmarks that measure against bare Docker in the same run
// (runtime/docker's BenchmarkPodStart, nodeagent's BenchmarkPodStartup).

// DockerRun creates and starts a container straight through the Docker API
// - what `docker run -d` does - or fails tb. It returns the container's ID
// and when its creation was done.
func DockerRun(ctx context.Context, tb testing.TB, cli client.APIClient, cfg *container.Config, host *container.HostConfig) (id string, created time.Time) {
	tb.Helper()
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: host})
	if err != nil {
		tb.Fatalf("docker run: create: %v", err)
	}
	created = time.Now()
	if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		tb.Fatalf("docker run: start: %v", err)
	}
	return res.ID, created
}

// RemoveLabelled force-removes every container with label (key=value),
// ignoring errors: for cleanups.
func RemoveLabelled(cli client.APIClient, label string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", label)})
	if err != nil {
		return
	}
	for _, c := range res.Items {
		_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
	}
}

// Percentile returns the p-th percentile (nearest rank) of ds; 0 when ds
// is empty.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// Millis is d in milliseconds, for testing.B.ReportMetric.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
