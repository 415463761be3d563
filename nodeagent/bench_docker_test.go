package nodeagent_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

// startupPods is the number of pods (and bare containers) started per round.
const startupPods = 100

// BenchmarkPodStartup measures pod startup latency on one node on real
// Docker, the way Kubernetes' SLO does: from the creation of a pod (bound
// to the node, its image present) to the node agent reporting it Running,
// pods one after another so that none waits for another. The baseline,
// interleaved with it in the same run, is bare `docker run -d` of the same
// image (ContainerCreate + ContainerStart through the Docker API). It
// reports p50-ms and p99-ms of pods, docker-run-p50-ms and
// docker-run-p99-ms, ratio-to-docker-run: pod p99 over docker run p99 (the
// goal is under 1.5), and ratio-p50-to-docker-run. A pod is a sandbox (pause container)
// and its container, plus the API server round trips, where docker run is
// one container.
func BenchmarkPodStartup(b *testing.B) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		b.Skip("needs root for Docker")
	}
	node := "bench-" + rand.String(6)
	cs := apiServer(b)
	rt := dockerRuntime(b, node)
	cli := runtimetest.DockerClient(b)
	label := "gantry.io/bench-run"
	b.Cleanup(func() { runtimetest.RemoveLabelled(cli, label+"="+node) })
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: node, Client: cs, Runtime: rt, NodeIP: netip.MustParseAddr("127.0.0.1"),
		RootDir: b.TempDir(),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("agent: %v", err)
		}
	})

	// Running times of pods, from a watch.
	pods := cs.CoreV1().Pods("default")
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	running := map[string]chan time.Time{}
	runningOf := func(name string) chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		if running[name] == nil {
			running[name] = make(chan time.Time, 1)
		}
		return running[name]
	}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || p.Status.Phase != corev1.PodRunning {
				continue
			}
			select {
			case runningOf(p.Name) <- time.Now():
			default: // seen Running before
			}
		}
	}()

	var podLat, bareLat []time.Duration
	n := 0
	for b.Loop() {
		var names []string
		for range startupPods {
			n++
			name := fmt.Sprintf("p%d", n)
			measurePod := func() {
				t0 := time.Now()
				_, err := pods.Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: corev1.PodSpec{
						NodeName: node, TerminationGracePeriodSeconds: ptr.To[int64](0),
						Containers: []corev1.Container{{Name: "main", Image: images.Busybox, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "3600"}}},
					},
				}, metav1.CreateOptions{})
				if err != nil {
					b.Fatal(err)
				}
				select {
				case t1 := <-runningOf(name):
					podLat = append(podLat, t1.Sub(t0))
				case <-time.After(2 * time.Minute):
					b.Fatalf("pod %s not Running after 2 minutes", name)
				}
				names = append(names, name)
			}
			measureBare := func() {
				t0 := time.Now()
				runtimetest.DockerRun(ctx, b, cli,
					&container.Config{Image: images.Busybox, Cmd: []string{"sleep", "3600"}, Labels: map[string]string{label: node}},
					&container.HostConfig{})
				bareLat = append(bareLat, time.Since(t0))
			}
			if n%2 == 0 { // alternate which runs first
				measurePod()
				measureBare()
			} else {
				measureBare()
				measurePod()
			}
		}
		// Clean up between rounds, outside the measurements.
		b.StopTimer()
		for _, name := range names {
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
				b.Fatal(err)
			}
		}
		runtimetest.RemoveLabelled(cli, label+"="+node)
		// The agent removes the deleted pods' containers: wait for it, so
		// that the next round does not compete with the teardown.
		deadline := time.Now().Add(5 * time.Minute)
		tick := time.NewTicker(100 * time.Millisecond)
		for {
			sbs, err := rt.ListSandboxes(ctx, runtime.SandboxFilter{})
			if err != nil {
				b.Fatal(err)
			}
			if len(sbs) == 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d sandboxes left after 5 minutes", len(sbs))
			}
			<-tick.C
		}
		tick.Stop()
		b.StartTimer()
	}
	p99, bare99 := runtimetest.Percentile(podLat, 99), runtimetest.Percentile(bareLat, 99)
	b.ReportMetric(runtimetest.Millis(runtimetest.Percentile(podLat, 50)), "p50-ms")
	b.ReportMetric(runtimetest.Millis(p99), "p99-ms")
	b.ReportMetric(runtimetest.Millis(runtimetest.Percentile(bareLat, 50)), "docker-run-p50-ms")
	b.ReportMetric(runtimetest.Millis(bare99), "docker-run-p99-ms")
	b.ReportMetric(runtimetest.Millis(p99)/runtimetest.Millis(bare99), "ratio-to-docker-run")
	b.ReportMetric(runtimetest.Millis(runtimetest.Percentile(podLat, 50))/runtimetest.Millis(runtimetest.Percentile(bareLat, 50)), "ratio-p50-to-docker-run")
}
