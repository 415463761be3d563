package docker_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/docker"
	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

// benchPods is the number of pods (and bare containers) started per round.
const benchPods = 50

// BenchmarkPodStart measures how long a pod takes to start through the
// runtime - RunSandbox, then CreateContainer and StartContainer of one
// busybox - against baselines measured in the same run, interleaved with it:
//
//   - docker run: ContainerCreate + ContainerStart of the same busybox image
//     straight through the Docker API (what `docker run -d` does), on the
//     default bridge;
//   - docker pair: the same two containers a pod has (a pause container on
//     the bridge, then the busybox joined to its network and IPC
//     namespaces) straight through the Docker API: the runtime's own
//     overhead is the difference to this one.
//
// It reports p50-ms and p99-ms of pod starts and sandbox-p50-ms (RunSandbox
// alone), the baselines' percentiles (docker-run-create-p50-ms: the create
// call alone; docker-pair-pause-p50-ms: the pause container alone), and
// ratio-to-docker-run and ratio-to-docker-pair (pod p50 over the baseline's
// p50). A pod is two container starts where docker run is one, so
// ratio-to-docker-run is bounded below by what the second start costs;
// ratio-to-docker-pair is the runtime's own overhead.
func BenchmarkPodStart(b *testing.B) {
	cli := runtimetest.DockerClient(b)
	ctx := b.Context()
	runtimetest.EnsureImages(ctx, b, cli)
	rt, err := docker.New(docker.Options{Client: cli})
	if err != nil {
		b.Fatal(err)
	}
	run := strings.ToLower(rand.Text()[:8])
	label := "gantry.io/bench-run"
	b.Cleanup(func() { removeLabelled(cli, label+"="+run) })

	var pods, podSandbox, bare, bareCreate, pair, pairPause []time.Duration
	n := 0
	for b.Loop() {
		var sandboxes []string
		var containers []string
		for range benchPods {
			n++
			// Pod through the runtime.
			measurePod := func() {
				t0 := time.Now()
				sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{
					Name: fmt.Sprintf("bench-%d", n), Namespace: "bench", UID: fmt.Sprintf("%s-%d", run, n),
					Labels: map[string]string{label: run},
				})
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				id, err := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{
					Name: "app", Image: images.Busybox, Command: []string{"sleep", "3600"},
					Labels: map[string]string{label: run},
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := rt.StartContainer(ctx, id); err != nil {
					b.Fatal(err)
				}
				pods = append(pods, time.Since(t0))
				podSandbox = append(podSandbox, t1.Sub(t0))
				sandboxes = append(sandboxes, sb)
			}
			// Bare docker run of the same image.
			measureBare := func() {
				t0 := time.Now()
				cid, created := bareRun(ctx, b, cli, "", map[string]string{label: run})
				bare = append(bare, time.Since(t0))
				bareCreate = append(bareCreate, created.Sub(t0))
				containers = append(containers, cid)
			}
			// The same pair of containers straight through the API.
			measurePair := func() {
				t0 := time.Now()
				pause, _ := bareRunImage(ctx, b, cli, images.Pause, nil, container.IpcMode("shareable"), "", map[string]string{label: run})
				t1 := time.Now()
				app, _ := bareRun(ctx, b, cli, pause, map[string]string{label: run})
				pair = append(pair, time.Since(t0))
				pairPause = append(pairPause, t1.Sub(t0))
				containers = append(containers, app, pause)
			}
			// Rotate the order, so that none always runs first.
			fs := []func(){measurePod, measureBare, measurePair}
			for i := range fs {
				fs[(n+i)%len(fs)]()
			}
		}
		// Clean up between rounds, outside the measured calls.
		for _, sb := range sandboxes {
			if err := rt.RemoveSandbox(ctx, sb); err != nil {
				b.Fatal(err)
			}
		}
		for _, id := range containers {
			_, _ = cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
		}
	}
	p50 := percentile(pods, 50)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(percentile(pods, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(podSandbox, 50)), "sandbox-p50-ms")
	b.ReportMetric(ms(percentile(bare, 50)), "docker-run-p50-ms")
	b.ReportMetric(ms(percentile(bare, 99)), "docker-run-p99-ms")
	b.ReportMetric(ms(percentile(bareCreate, 50)), "docker-run-create-p50-ms")
	b.ReportMetric(ms(percentile(pair, 50)), "docker-pair-p50-ms")
	b.ReportMetric(ms(percentile(pair, 99)), "docker-pair-p99-ms")
	b.ReportMetric(ms(percentile(pairPause, 50)), "docker-pair-pause-p50-ms")
	b.ReportMetric(ms(p50)/ms(percentile(bare, 50)), "ratio-to-docker-run")
	b.ReportMetric(ms(p50)/ms(percentile(pair, 50)), "ratio-to-docker-pair")
}

// bareRun creates and starts busybox sleeping, on the default bridge or, with
// netns, in that container's network and IPC namespaces.
func bareRun(ctx context.Context, b *testing.B, cli client.APIClient, netns string, labels map[string]string) (string, time.Time) {
	var ipc container.IpcMode
	if netns != "" {
		ipc = container.IpcMode("container:" + netns)
		netns = "container:" + netns
	}
	return bareRunImage(ctx, b, cli, images.Busybox, []string{"sleep", "3600"}, ipc, netns, labels)
}

// bareRunImage creates and starts image straight through the Docker API.
func bareRunImage(ctx context.Context, b *testing.B, cli client.APIClient, image string, cmd []string, ipc container.IpcMode, netMode string, labels map[string]string) (string, time.Time) {
	b.Helper()
	return runtimetest.DockerRun(ctx, b, cli, &container.Config{Image: image, Cmd: cmd, Labels: labels},
		&container.HostConfig{IpcMode: ipc, NetworkMode: container.NetworkMode(netMode)})
}

var (
	percentile     = runtimetest.Percentile
	ms             = runtimetest.Millis
	removeLabelled = runtimetest.RemoveLabelled
)
