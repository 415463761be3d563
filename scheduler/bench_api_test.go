package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// BenchmarkSchedulingAPIServer is SchedulingBasic through the in-process
// API server (memory store) with client-go: nodes, 1,000 placed pods and
// the b.N measured pods are created first; the timed part starts the
// Runner and waits until it has bound them all through pods/binding.
func BenchmarkSchedulingAPIServer(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("%dNodes", nodes), func(b *testing.B) {
			benchmarkAPIServer(b, startCluster(b), nodes, 1000)
		})
	}
}

// BenchmarkSchedulingEtcd is SchedulingBasic through the API server on a
// real (embedded) etcd, as a master runs it: the same steps as
// BenchmarkSchedulingAPIServer, every write a transaction in etcd and
// every read a watch event from it. etcd runs as etcdtest starts it for
// tests (no fsync, fast ticks): disk latency is not measured. Each
// sub-benchmark also schedules b.N pods in process (framework and cache,
// fake binder) on the same cluster shape first and reports the ratio as
// x-in-process, so the figure can be read on a shared, noisy machine.
func BenchmarkSchedulingEtcd(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("%dNodes", nodes), func(b *testing.B) {
			base := inProcessRate(b, nodes, 1000, b.N)
			e := etcdtest.StartEmbedded(b, etcdstore.EmbeddedOptions{})
			st, err := e.NewStore(etcdstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			rate := benchmarkAPIServer(b, serveAPI(b, apiserver.Options{Store: st}), nodes, 1000)
			b.ReportMetric(base, "in-process-pods/s")
			b.ReportMetric(rate/base, "x-in-process")
		})
	}
}

// inProcessRate schedules n pods in process on numNodes nodes with
// numPlaced pods placed and returns pods per second.
func inProcessRate(b *testing.B, numNodes, numPlaced, n int) float64 {
	b.Helper()
	ctx := context.Background()
	s, err := scheduler.New(scheduler.Options{
		Registry: plugins.NewRegistry(),
		Profiles: []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		Binder:   scheduler.BinderFunc(func(context.Context, *corev1.Pod, string) error { return nil }),
		Clock:    clocktesting.NewFakeClock(benchStart),
	})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < numNodes; i++ {
		s.Cache.AddNode(benchNode(i))
	}
	for i := 0; i < numPlaced; i++ {
		p := benchPod("placed", i)
		p.Spec.NodeName = fmt.Sprintf("node-%d", i%numNodes)
		s.Cache.AddPod(p)
	}
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		pods[i] = benchPod("measured", i)
	}
	start := time.Now()
	for _, p := range pods {
		s.Queue.Add(p)
	}
	for s.ScheduleOne(ctx) {
	}
	return float64(n) / time.Since(start).Seconds()
}

// benchmarkAPIServer runs SchedulingBasic against the API server behind
// cs and returns (and reports) pods/s.
func benchmarkAPIServer(b *testing.B, cs kubernetes.Interface, numNodes, numPlaced int) float64 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	createNodes := func(i int) error {
		n := benchNode(i)
		n.UID = ""
		created, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		created.Status = n.Status
		_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	}
	if err := parallel(numNodes, 16, createNodes); err != nil {
		b.Fatal(err)
	}
	if err := parallel(numPlaced, 16, func(i int) error {
		p := benchPod("placed", i)
		p.UID = ""
		p.Spec.NodeName = fmt.Sprintf("node-%d", i%numNodes)
		_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	// The measured pods are created before the scheduler starts: creating
	// them over HTTP is not what is measured (on a loaded machine it is
	// slower than scheduling them and would hide it).
	if err := parallel(b.N, 16, func(i int) error {
		p := benchPod("measured", i)
		p.UID = ""
		_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var scheduled, failed atomic.Int64
	var mu sync.Mutex
	var first, last time.Time
	r, err := scheduler.NewRunner(scheduler.RunnerOptions{
		Client:   cs,
		Registry: plugins.NewRegistry(),
		Profiles: []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		OnResult: func(res scheduler.Result) {
			if !res.Status.IsSuccess() {
				failed.Add(1)
				return
			}
			mu.Lock()
			if first.IsZero() || res.Start.Before(first) {
				first = res.Start
			}
			if res.End.After(last) {
				last = res.End
			}
			mu.Unlock()
			scheduled.Add(1)
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := waitUntil(10*time.Minute, func() bool { return scheduled.Load() >= int64(b.N) }); err != nil {
		b.Fatalf("scheduled %d of %d (failed attempts %d)", scheduled.Load(), b.N, failed.Load())
	}
	b.StopTimer()
	if n := r.Scheduler().Cache.PodCount(); n != numPlaced+b.N {
		b.Fatalf("cache holds %d pods, want %d", n, numPlaced+b.N)
	}
	// pods/s counts from Run (informers listing the cluster included) to
	// the last binding; window-pods/s from the first scheduling attempt
	// to the last binding.
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "pods/s")
	mu.Lock()
	if w := last.Sub(first).Seconds(); w > 0 {
		b.ReportMetric(float64(b.N)/w, "window-pods/s")
	}
	mu.Unlock()
	return rate
}

func waitUntil(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", d)
		}
		<-time.After(5 * time.Millisecond)
	}
	return nil
}
