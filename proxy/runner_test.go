package proxy

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// recorder is a Proxier that records the syncs it is asked for.
type recorder struct {
	clk *clocktesting.FakeClock
	mu  sync.Mutex
	at  []time.Time
	got []*State
	err error
}

func (r *recorder) Sync(_ context.Context, s *State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, r.clk.Now())
	r.got = append(r.got, s)
	return r.err
}

func (r *recorder) Cleanup(context.Context) error { return nil }

func (r *recorder) setErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *recorder) syncs() ([]time.Time, []*State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at...), append([]*State(nil), r.got...)
}

// waitFor polls cond, stepping the fake clock by step whenever the runner
// waits on it, until cond holds or ten seconds pass.
func waitFor(t *testing.T, clk *clocktesting.FakeClock, step time.Duration, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		if cond() {
			return true
		}
		if step > 0 && clk.HasWaiters() {
			clk.Step(step)
		}
		return false
	}, 10*time.Second, 2*time.Millisecond, "timed out waiting for %s", what)
}

func startRunner(t *testing.T, rec *recorder, client *fake.Clientset) *Runner {
	t.Helper()
	r, err := NewRunner(RunnerOptions{Client: client, Proxier: rec, Clock: rec.clk, MinSyncPeriod: time.Second, SyncPeriod: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func newService(i int) *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "svc-" + string(rune('a'+i))},
		Spec:       v1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP}}},
	}
}

func TestRunnerBatchesChanges(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	rec := &recorder{clk: clk}
	client := fake.NewSimpleClientset()
	startRunner(t, rec, client)
	waitFor(t, clk, 0, "the first sync", func() bool { at, _ := rec.syncs(); return len(at) == 1 })

	ctx := context.Background()
	const n = 20
	for i := range n {
		if _, err := client.CoreV1().Services("default").Create(ctx, newService(i), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, clk, 100*time.Millisecond, "a sync with every service", func() bool {
		_, got := rec.syncs()
		return len(got[len(got)-1].Services) == n
	})
	at, _ := rec.syncs()
	// 20 changes, each kicking the loop: far fewer syncs, never two within
	// MinSyncPeriod.
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < time.Second {
			t.Errorf("syncs %d and %d only %v apart; MinSyncPeriod is 1s", i-1, i, d)
		}
	}
	if len(at) > 1+n/2 {
		t.Errorf("%d syncs for %d changes: changes were not batched", len(at), n)
	}
}

func TestRunnerResyncsPeriodically(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	rec := &recorder{clk: clk}
	startRunner(t, rec, fake.NewSimpleClientset(newService(0)))
	waitFor(t, clk, 0, "the first sync", func() bool { at, _ := rec.syncs(); return len(at) == 1 })
	waitFor(t, clk, 30*time.Second, "three periodic syncs", func() bool { at, _ := rec.syncs(); return len(at) == 4 })
	at, got := rec.syncs()
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d != 30*time.Second {
			t.Errorf("sync %d came %v after the previous one; want the 30s SyncPeriod", i, d)
		}
		if len(got[i].Services) != 1 {
			t.Errorf("sync %d has %d services, want 1", i, len(got[i].Services))
		}
	}
}

func TestRunnerHealthAndMetrics(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	rec := &recorder{clk: clk, err: errors.New("iptables-restore: exit status 4")}
	client := fake.NewSimpleClientset()
	r := startRunner(t, rec, client)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	waitFor(t, clk, 0, "a failed sync", func() bool { at, _ := rec.syncs(); return len(at) == 1 })
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "exit status 4") {
		t.Fatalf("/healthz after a failed first sync = %d %q; want 503 with the error", code, body)
	}
	// A failed sync is retried after MinSyncPeriod, not SyncPeriod.
	waitFor(t, clk, time.Second, "a retry", func() bool { at, _ := rec.syncs(); return len(at) == 2 })
	if at, _ := rec.syncs(); at[1].Sub(at[0]) != time.Second {
		t.Fatalf("retry %v after the failure; want MinSyncPeriod (1s)", at[1].Sub(at[0]))
	}

	rec.setErr(nil)
	waitFor(t, clk, time.Second, "a successful sync", func() bool { return r.LastState() != nil })
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz after a successful sync = %d %q", code, body)
	}

	// A change that cannot be programmed for longer than two sync periods
	// makes the proxy unhealthy.
	rec.setErr(errors.New("no space left"))
	if _, err := client.CoreV1().Services("default").Create(context.Background(), newService(1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, clk, 10*time.Second, "the proxy to turn unhealthy", func() bool { return r.Healthy() != nil })
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "changes pending") || !strings.Contains(body, "no space left") {
		t.Fatalf("/healthz with a change stuck = %d %q", code, body)
	}

	_, body := get("/metrics")
	for _, m := range []string{"proxy_sync_proxy_rules_duration_seconds_count", "proxy_sync_proxy_rules_errors_total", "proxy_service_ports", "proxy_network_programming_duration_seconds"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func TestNewRunnerValidates(t *testing.T) {
	if _, err := NewRunner(RunnerOptions{Proxier: &recorder{}}); err == nil {
		t.Error("NewRunner without a client succeeded")
	}
	if _, err := NewRunner(RunnerOptions{Client: fake.NewSimpleClientset()}); err == nil {
		t.Error("NewRunner without a proxier succeeded")
	}
}
