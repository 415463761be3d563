package deployment_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllermanager"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/deployment"
	"github.com/gantryhq/gantry/controller/replicaset"
)

// minWritesPerDeployment is the least a controller manager must write for
// one Deployment of 10 replicas to be rolled out: the ReplicaSet, its 10
// pods, one ReplicaSet status and one Deployment status. Events (one per pod
// created, one per scale) are counted apart: they are for people, not for
// the rollout.
const (
	benchReplicas          = 10
	minWritesPerDeployment = 1 + benchReplicas + 1 + 1
)

func benchDeployments() int {
	if n, err := strconv.Atoi(os.Getenv("GANTRY_BENCH_DEPLOYMENTS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// parallel runs fn(i) for i in [0,n) on w goroutines.
func parallel(n, w int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range w {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// readyKubelet marks pods Ready as they appear, with workers in parallel,
// standing in for node agents.
func readyKubelet(ctx context.Context, cs kubernetes.Interface) {
	w, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	defer w.Stop()
	work := make(chan *corev1.Pod, 20000)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(work)
	for range 16 {
		wg.Go(func() {
			for p := range work {
				p.Status.Phase = corev1.PodRunning
				p.Status.PodIP = "10.1.0.1"
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
				_, _ = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			}
		})
	}
	for ev := range w.ResultChan() {
		if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added && !controller.PodReady(p) {
			work <- p
		}
	}
}

// watchRolledOut returns a channel closed once n Deployments are rolled
// out with every replica available. It follows a watch rather than polling
// lists, which would load the API server with the measurement itself.
func watchRolledOut(ctx context.Context, cs kubernetes.Interface, n int) (<-chan struct{}, error) {
	l, err := cs.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	w, err := cs.AppsV1().Deployments("default").Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		return nil, err
	}
	rolled := make(chan struct{})
	go func() {
		defer w.Stop()
		done := map[string]bool{}
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			done[d.Name] = ev.Type != watch.Deleted && rolledOut(d) && d.Status.AvailableReplicas == ptr.Deref(d.Spec.Replicas, 1)
			if !done[d.Name] {
				delete(done, d.Name)
			}
			if len(done) == n {
				close(rolled)
				return
			}
		}
	}()
	return rolled, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkDeployments creates 1,000 Deployments of 10 replicas at once
// (GANTRY_BENCH_DEPLOYMENTS overrides the count) and measures until every
// one is rolled out: its ReplicaSet and pods exist and all pods are
// available. It reports the controller manager's API calls per Deployment
// against the minimum, and the time against a baseline measured in the same
// run: a client writing that minimum (ReplicaSet + pods) directly.
func BenchmarkDeployments(b *testing.B) {
	n := benchDeployments()
	ctx := context.Background()
	var ctrlCalls, ctrlWrites, ctrlWatches int64
	var eventWrites atomic.Int64
	var total, baseline, totalCPU, baselineCPU time.Duration
	for range b.N {
		b.StopTimer()
		// Baseline: the minimal objects written directly.
		bs, err := controllertest.New(ctx, apiserver.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t0, c0 := time.Now(), cpuTime()
		err = parallel(n, 32, func(i int) error {
			d := newDeployment(fmt.Sprintf("d%04d", i), benchReplicas, "v1")
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-x"},
				Spec: appsv1.ReplicaSetSpec{Replicas: d.Spec.Replicas, Selector: d.Spec.Selector, Template: d.Spec.Template}}
			if _, err := bs.Client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
				return err
			}
			for j := range benchReplicas {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", d.Name, j), Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
				if _, err := bs.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
		baseline += time.Since(t0)
		baselineCPU += cpuTime() - c0
		bs.Close()
		if err != nil {
			b.Fatal(err)
		}

		s, err := controllertest.New(ctx, apiserver.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctrlCounter := &controllertest.Counter{}
		cfg := controllermanager.ClientConfig(s.Config, "")
		cfg.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
			return ctrlCounter.RoundTripper(roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.Method != http.MethodGet && (path.Base(r.URL.Path) == "events" || path.Base(path.Dir(r.URL.Path)) == "events") {
					eventWrites.Add(1)
				}
				return next.RoundTrip(r)
			}))
		}
		ctrlClient, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		m, err := controller.NewManager(controller.ManagerOptions{Client: ctrlClient, Controllers: []string{"*"}})
		if err != nil {
			b.Fatal(err)
		}
		if err := replicaset.Register(m); err != nil {
			b.Fatal(err)
		}
		if err := deployment.Register(m); err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Start(rctx) }()
		go readyKubelet(rctx, s.Client)
		rolled, err := watchRolledOut(rctx, s.Client, n)
		if err != nil {
			b.Fatal(err)
		}
		for !m.IsLeader() {
			<-time.After(time.Millisecond)
		}
		b.StartTimer()
		t0, c0 = time.Now(), cpuTime()
		err = parallel(n, 32, func(i int) error {
			_, err := s.Client.AppsV1().Deployments("default").Create(ctx, newDeployment(fmt.Sprintf("d%04d", i), benchReplicas, "v1"), metav1.CreateOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-rolled:
		case <-time.After(10 * time.Minute):
			b.Fatal("deployments not rolled out after 10 minutes")
		}
		total += time.Since(t0)
		totalCPU += cpuTime() - c0
		b.StopTimer()
		ctrlCalls += ctrlCounter.Total()
		ctrlWrites += ctrlCounter.Mutating()
		ctrlWatches += ctrlCounter.Watches()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	iters := float64(b.N)
	events := eventWrites.Load()
	perDep := float64(ctrlWrites-events) / iters / float64(n)
	b.ReportMetric(total.Seconds()/iters, "s/rollout")
	b.ReportMetric(baseline.Seconds()/iters, "s/baseline")
	b.ReportMetric(total.Seconds()/baseline.Seconds(), "x-baseline")
	// CPU time of the whole process (API server, memory store, controllers,
	// stand-in kubelet): steadier than wall time on a shared machine.
	b.ReportMetric(totalCPU.Seconds()/iters, "cpu-s/rollout")
	b.ReportMetric(baselineCPU.Seconds()/iters, "cpu-s/baseline")
	if baselineCPU > 0 {
		b.ReportMetric(totalCPU.Seconds()/baselineCPU.Seconds(), "x-baseline-cpu")
	}
	b.ReportMetric(float64(ctrlCalls)/iters/float64(n), "calls/deployment")
	b.ReportMetric(perDep, "writes/deployment")
	b.ReportMetric(float64(events)/iters/float64(n), "event-writes/deployment")
	b.ReportMetric(perDep/minWritesPerDeployment, "x-min-writes")
	b.ReportMetric(float64(n)/(total.Seconds()/iters), "deployments/s")
	// Three informers need three watches; more means watches were dropped
	// and the informers re-listed.
	b.ReportMetric(float64(ctrlWatches)/iters, "watches")
}
