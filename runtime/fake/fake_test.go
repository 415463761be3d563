package fake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
		rt, err := fake.New(fake.Options{Images: []string{images.Busybox, images.Echo}})
		require.NoError(t, err)
		return rt
	},
		runtimetest.Lacks(runtimetest.Processes, "the fake runs no programs: exit codes, logs and signals come from fake.Behavior"),
		runtimetest.Lacks(runtimetest.PodNetwork, "the fake has no network namespaces"),
		runtimetest.Lacks(runtimetest.NetNSPath, "the fake has no network namespaces"),
		runtimetest.RemovableImage(func(t *testing.T, rt runtime.Runtime) string {
			ref := "gantry.local/removable:" + strings.ReplaceAll(t.Name(), "/", "-")
			_, err := rt.PullImage(t.Context(), ref, runtime.PullOptions{Policy: runtime.PullAlways})
			require.NoError(t, err)
			return ref
		}),
	)
}

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// env is a fake runtime on a fake clock with one ready sandbox.
type env struct {
	t   *testing.T
	ctx context.Context
	clk *clocktesting.FakeClock
	rt  *fake.Runtime
	sb  string
}

func newEnv(t *testing.T, opts fake.Options) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	opts.Clock = clk
	opts.Images = append(opts.Images, images.Busybox)
	rt, err := fake.New(opts)
	require.NoError(t, err)
	e := &env{t: t, ctx: t.Context(), clk: clk, rt: rt}
	if opts.SandboxLatency == 0 {
		e.sb, err = rt.RunSandbox(e.ctx, runtime.SandboxConfig{Name: "pod", Namespace: "ns", UID: "uid"})
		require.NoError(t, err)
	}
	return e
}

// create creates a container named name in the env's sandbox.
func (e *env) create(name string) string {
	e.t.Helper()
	id, err := e.rt.CreateContainer(e.ctx, e.sb, runtime.ContainerConfig{Name: name, Image: images.Busybox})
	require.NoError(e.t, err)
	return id
}

func (e *env) status(id string) runtime.ContainerStatus {
	e.t.Helper()
	st, err := e.rt.ContainerStatus(e.ctx, id)
	require.NoError(e.t, err)
	return st
}

// background runs f in a goroutine and returns a channel with its error.
func background(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// stepWhenWaiting waits (polling, with a deadline) until a call blocks on the
// clock, then steps the clock by d.
func (e *env) stepWhenWaiting(d time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !e.clk.HasWaiters() {
		if time.Now().After(deadline) {
			e.t.Fatal("nothing waits on the clock")
		}
		goruntime.Gosched()
	}
	e.clk.Step(d)
}

// result waits for a background call's error.
func (e *env) result(ch <-chan error) error {
	e.t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		e.t.Fatal("call did not return")
		return nil
	}
}

func TestLatencies(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts fake.Options
		call func(e *env) error
		// check runs after the call returned, with the clock at epoch+latency.
		check func(e *env)
	}{
		{
			name: "start",
			opts: fake.Options{StartLatency: 5 * time.Second},
			call: func(e *env) error {
				id := e.create("app")
				return e.rt.StartContainer(e.ctx, id)
			},
			check: func(e *env) {
				ctrs, err := e.rt.ListContainers(e.ctx, runtime.ContainerFilter{})
				require.NoError(e.t, err)
				require.Len(e.t, ctrs, 1)
				st := e.status(ctrs[0].ID)
				assert.Equal(e.t, runtime.ContainerRunning, st.State)
				assert.Equal(e.t, epoch.Add(5*time.Second), st.StartedAt)
				assert.Equal(e.t, epoch, st.CreatedAt)
			},
		},
		{
			name: "sandbox",
			opts: fake.Options{SandboxLatency: 3 * time.Second},
			call: func(e *env) error {
				id, err := e.rt.RunSandbox(e.ctx, runtime.SandboxConfig{Name: "p", Namespace: "ns", UID: "u"})
				e.sb = id
				return err
			},
			check: func(e *env) {
				st, err := e.rt.SandboxStatus(e.ctx, e.sb)
				require.NoError(e.t, err)
				assert.Equal(e.t, runtime.SandboxReady, st.State)
			},
		},
		{
			name: "pull",
			opts: fake.Options{PullLatency: 7 * time.Second},
			call: func(e *env) error {
				_, err := e.rt.PullImage(e.ctx, "example.com/app:1", runtime.PullOptions{})
				return err
			},
			check: func(e *env) {
				_, err := e.rt.ImageStatus(e.ctx, "example.com/app:1")
				assert.NoError(e.t, err)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			done := background(func() error { return tc.call(e) })
			latency := tc.opts.StartLatency + tc.opts.SandboxLatency + tc.opts.PullLatency
			e.stepWhenWaiting(latency - time.Nanosecond)
			select {
			case err := <-done:
				t.Fatalf("returned before its latency passed: %v", err)
			default:
			}
			e.stepWhenWaiting(time.Nanosecond)
			require.NoError(t, e.result(done))
			tc.check(e)
		})
	}
}

func TestLatencyCanceled(t *testing.T) {
	e := newEnv(t, fake.Options{PullLatency: time.Hour})
	ctx, cancel := context.WithCancel(e.ctx)
	done := background(func() error {
		_, err := e.rt.PullImage(ctx, "example.com/app:1", runtime.PullOptions{})
		return err
	})
	for !e.clk.HasWaiters() {
		goruntime.Gosched()
	}
	cancel()
	err := e.result(done)
	assert.ErrorIs(t, err, runtime.ErrImagePull)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestExitAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		beh        fake.Behavior
		wantCode   int
		wantReason string
	}{
		{"success", fake.Behavior{ExitAfter: time.Minute}, 0, runtime.ReasonCompleted},
		{"failure", fake.Behavior{ExitAfter: time.Minute, ExitCode: 2}, 2, runtime.ReasonError},
		{"oom", fake.Behavior{ExitAfter: time.Minute, ExitCode: 137, Reason: runtime.ReasonOOMKilled}, 137, runtime.ReasonOOMKilled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fake.Options{Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior { return tc.beh }})
			id := e.create("app")
			require.NoError(t, e.rt.StartContainer(e.ctx, id))
			e.clk.Step(time.Minute - time.Nanosecond)
			assert.Equal(t, runtime.ContainerRunning, e.status(id).State)
			e.clk.Step(time.Hour) // seen late: it exited at its time, not now
			st := e.status(id)
			assert.Equal(t, runtime.ContainerExited, st.State)
			assert.Equal(t, tc.wantCode, st.ExitCode)
			assert.Equal(t, tc.wantReason, st.Reason)
			assert.Equal(t, epoch.Add(time.Minute), st.FinishedAt)
			ctrs, err := e.rt.ListContainers(e.ctx, runtime.ContainerFilter{State: runtime.ContainerExited})
			require.NoError(t, err)
			assert.Len(t, ctrs, 1)
		})
	}
}

func TestStopGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name     string
		beh      fake.Behavior
		grace    time.Duration
		wantAt   time.Duration // exit time after the stop
		wantCode int
	}{
		{"exits on SIGTERM at once", fake.Behavior{}, 30 * time.Second, 0, 0},
		{"shuts down within the grace period", fake.Behavior{TermDelay: 3 * time.Second, TermExitCode: 143}, 30 * time.Second, 3 * time.Second, 143},
		{"ignores SIGTERM: killed", fake.Behavior{IgnoreSIGTERM: true}, 10 * time.Second, 10 * time.Second, 137},
		{"too slow: killed", fake.Behavior{TermDelay: time.Minute}, 10 * time.Second, 10 * time.Second, 137},
		{"grace 0 kills at once", fake.Behavior{TermDelay: time.Second}, 0, 0, 137},
		{"grace 0, exits on SIGTERM at once", fake.Behavior{TermExitCode: 143}, 0, 0, 143},
		{"exits by itself first", fake.Behavior{IgnoreSIGTERM: true, ExitAfter: 2 * time.Second, ExitCode: 4}, 10 * time.Second, 2 * time.Second, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fake.Options{Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior { return tc.beh }})
			id := e.create("app")
			require.NoError(t, e.rt.StartContainer(e.ctx, id))
			done := background(func() error { return e.rt.StopContainer(e.ctx, id, tc.grace) })
			if tc.wantAt > 0 {
				e.stepWhenWaiting(tc.wantAt - time.Nanosecond)
				assert.Equal(t, runtime.ContainerRunning, e.status(id).State, "before its exit time")
				e.stepWhenWaiting(time.Nanosecond)
			}
			require.NoError(t, e.result(done))
			st := e.status(id)
			assert.Equal(t, runtime.ContainerExited, st.State)
			assert.Equal(t, tc.wantCode, st.ExitCode)
			assert.Equal(t, epoch.Add(tc.wantAt), st.FinishedAt)
		})
	}
}

func TestStopCanceled(t *testing.T) {
	e := newEnv(t, fake.Options{Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior {
		return fake.Behavior{IgnoreSIGTERM: true}
	}})
	id := e.create("app")
	require.NoError(t, e.rt.StartContainer(e.ctx, id))
	ctx, cancel := context.WithCancel(e.ctx)
	done := background(func() error { return e.rt.StopContainer(ctx, id, time.Minute) })
	for !e.clk.HasWaiters() {
		goruntime.Gosched()
	}
	cancel()
	require.ErrorIs(t, e.result(done), context.Canceled)
	// The kill stays scheduled, as a real runtime's would.
	e.clk.Step(time.Minute)
	assert.Equal(t, 137, e.status(id).ExitCode)
}

func TestLogs(t *testing.T) {
	beh := fake.Behavior{
		ExitAfter: 3 * time.Second,
		Logs: []fake.LogLine{
			{At: 0, Text: "starting"},
			{At: time.Second, Stream: fake.Stderr, Text: "warning\n"},
			{At: 2 * time.Second, Text: "done"},
			{At: 5 * time.Second, Text: "never: after the exit"},
		},
	}
	e := newEnv(t, fake.Options{Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior { return beh }})
	id := e.create("app")
	require.NoError(t, e.rt.StartContainer(e.ctx, id))

	var out, errOut bytes.Buffer
	var mu sync.Mutex
	w := func(b *bytes.Buffer) io.Writer {
		return writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return b.Write(p) })
	}
	read := func(b *bytes.Buffer) string { mu.Lock(); defer mu.Unlock(); return b.String() }
	done := background(func() error {
		return e.rt.ContainerLogs(e.ctx, id, runtime.LogOptions{Follow: true}, w(&out), w(&errOut))
	})
	for range 3 { // a line at 1s, a line at 2s, the exit at 3s
		e.stepWhenWaiting(time.Second)
	}
	require.NoError(t, e.result(done))
	assert.Equal(t, "starting\ndone\n", read(&out))
	assert.Equal(t, "warning\n", read(&errOut))

	one := int64(1)
	for _, tc := range []struct {
		name         string
		opts         runtime.LogOptions
		wantOut, err string
	}{
		{"all", runtime.LogOptions{}, "starting\ndone\n", "warning\n"},
		{"tail 1", runtime.LogOptions{TailLines: &one}, "done\n", ""},
		{"since", runtime.LogOptions{Since: epoch.Add(time.Second)}, "done\n", "warning\n"},
		{"timestamps", runtime.LogOptions{Timestamps: true}, "2030-01-01T00:00:00Z starting\n2030-01-01T00:00:02Z done\n", "2030-01-01T00:00:01Z warning\n"},
	} {
		var o, eo bytes.Buffer
		require.NoError(t, e.rt.ContainerLogs(e.ctx, id, tc.opts, &o, &eo), tc.name)
		assert.Equal(t, tc.wantOut, o.String(), tc.name)
		assert.Equal(t, tc.err, eo.String(), tc.name)
	}

	// WriteLog appends at the current time.
	other := e.create("other")
	require.NoError(t, e.rt.StartContainer(e.ctx, other))
	require.NoError(t, e.rt.WriteLog(other, fake.Stdout, "hello"))
	var o bytes.Buffer
	require.NoError(t, e.rt.ContainerLogs(e.ctx, other, runtime.LogOptions{}, &o, nil))
	assert.Equal(t, "starting\nhello\n", o.String(), "its Behavior's line, then the written one")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestStartError(t *testing.T) {
	boom := errors.New("exec: no such file")
	e := newEnv(t, fake.Options{Behavior: func(_ runtime.Sandbox, c runtime.ContainerConfig) fake.Behavior {
		if c.Name == "broken" {
			return fake.Behavior{StartError: boom}
		}
		return fake.Behavior{}
	}})
	id := e.create("broken")
	err := e.rt.StartContainer(e.ctx, id)
	require.ErrorIs(t, err, boom)
	st := e.status(id)
	assert.Equal(t, runtime.ContainerExited, st.State)
	assert.Equal(t, runtime.ReasonStartError, st.Reason)
	assert.Equal(t, boom.Error(), st.Message)
	assert.Equal(t, 128, st.ExitCode)
	require.Error(t, e.rt.StartContainer(e.ctx, id), "starting twice")
	ok := e.create("fine")
	require.NoError(t, e.rt.StartContainer(e.ctx, ok))
}

func TestPullRegistry(t *testing.T) {
	denied := errors.New("unauthorized")
	var seen []string
	var mu sync.Mutex
	e := newEnv(t, fake.Options{Pull: func(_ context.Context, ref string, auth []runtime.AuthConfig) error {
		mu.Lock()
		seen = append(seen, ref)
		mu.Unlock()
		if strings.HasPrefix(ref, "private.example/") && (len(auth) == 0 || auth[0].Password != "secret") {
			return denied
		}
		return nil
	}})
	for _, tc := range []struct {
		name    string
		ref     string
		opts    runtime.PullOptions
		wantErr error
	}{
		{"public", "public.example/app:1", runtime.PullOptions{}, nil},
		{"private without credentials", "private.example/app:1", runtime.PullOptions{}, denied},
		{"private with credentials", "private.example/app:1", runtime.PullOptions{Auth: []runtime.AuthConfig{{Username: "u", Password: "secret"}}}, nil},
		{"never and absent", "public.example/other:1", runtime.PullOptions{Policy: runtime.PullNever}, runtime.ErrImageNeverPull},
		{"present: no pull", "public.example/app:1", runtime.PullOptions{}, nil},
		{"always: pulls", "public.example/app:1", runtime.PullOptions{Policy: runtime.PullAlways}, nil},
	} {
		_, err := e.rt.PullImage(e.ctx, tc.ref, tc.opts)
		if tc.wantErr == nil {
			assert.NoError(t, err, tc.name)
			continue
		}
		assert.ErrorIs(t, err, tc.wantErr, tc.name)
		if errors.Is(tc.wantErr, denied) {
			assert.ErrorIs(t, err, runtime.ErrImagePull, tc.name)
		}
	}
	assert.Equal(t, []string{"public.example/app:1", "private.example/app:1", "private.example/app:1", "public.example/app:1"}, seen)
	// Familiar names, as Docker shows them.
	img, err := e.rt.ImageStatus(e.ctx, "public.example/app:1")
	require.NoError(t, err)
	assert.Equal(t, []string{"public.example/app:1"}, img.RepoTags)
	_, err = e.rt.PullImage(e.ctx, "busybox", runtime.PullOptions{})
	require.NoError(t, err)
	img, err = e.rt.ImageStatus(e.ctx, "docker.io/library/busybox:latest")
	require.NoError(t, err)
	assert.Equal(t, []string{"busybox:latest"}, img.RepoTags)

	// An image in use cannot be removed.
	id := e.create("app")
	require.Error(t, e.rt.RemoveImage(e.ctx, images.Busybox))
	require.NoError(t, e.rt.RemoveContainer(e.ctx, id))
	require.NoError(t, e.rt.RemoveImage(e.ctx, images.Busybox))
}

func TestHealth(t *testing.T) {
	e := newEnv(t, fake.Options{})
	require.NoError(t, e.rt.Health(e.ctx))
	died := errors.New("daemon died")
	e.rt.SetHealth(died)
	for name, err := range map[string]error{
		"Health":        e.rt.Health(e.ctx),
		"ListSandboxes": second(e.rt.ListSandboxes(e.ctx, runtime.SandboxFilter{})),
		"RunSandbox":    second(e.rt.RunSandbox(e.ctx, runtime.SandboxConfig{Name: "a", Namespace: "b", UID: "c"})),
		"PullImage":     second(e.rt.PullImage(e.ctx, "x:1", runtime.PullOptions{})),
	} {
		assert.ErrorIs(t, err, runtime.ErrUnavailable, name)
		assert.ErrorIs(t, err, died, name)
	}
	e.rt.SetHealth(nil)
	require.NoError(t, e.rt.Health(e.ctx))
}

func second[T any](_ T, err error) error { return err }

func TestIPAllocation(t *testing.T) {
	e := newEnv(t, fake.Options{PodCIDR: netip.MustParsePrefix("10.9.0.0/29")})
	// The env's sandbox has 10.9.0.2; .3 to .6 remain, .7 is the broadcast.
	st, err := e.rt.SandboxStatus(e.ctx, e.sb)
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.2", st.IP.String())
	var ids []string
	for i := range 4 {
		id, err := e.rt.RunSandbox(e.ctx, runtime.SandboxConfig{Name: fmt.Sprint("p", i), Namespace: "ns", UID: fmt.Sprint("u", i)})
		require.NoError(t, err)
		st, err := e.rt.SandboxStatus(e.ctx, id)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("10.9.0.%d", 3+i), st.IP.String())
		ids = append(ids, id)
	}
	_, err = e.rt.RunSandbox(e.ctx, runtime.SandboxConfig{Name: "full", Namespace: "ns", UID: "full"})
	require.Error(t, err, "subnet exhausted")
	require.NoError(t, e.rt.StopSandbox(e.ctx, ids[1])) // frees 10.9.0.4
	id, err := e.rt.RunSandbox(e.ctx, runtime.SandboxConfig{Name: "again", Namespace: "ns", UID: "again"})
	require.NoError(t, err)
	st, err = e.rt.SandboxStatus(e.ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "10.9.0.4", st.IP.String())

	// A named bridge gets its own subnet.
	id, err = e.rt.RunSandbox(e.ctx, runtime.SandboxConfig{Name: "b", Namespace: "ns", UID: "b",
		Network: runtime.NetworkConfig{Bridge: "cbr0", Subnet: netip.MustParsePrefix("10.244.3.0/24")}})
	require.NoError(t, err)
	st, err = e.rt.SandboxStatus(e.ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "10.244.3.2", st.IP.String())
	assert.Equal(t, "cbr0", st.Network)
}

func TestExec(t *testing.T) {
	e := newEnv(t, fake.Options{})
	id := e.create("app")
	require.NoError(t, e.rt.StartContainer(e.ctx, id))
	_, err := e.rt.Exec(e.ctx, id, runtime.ExecOptions{Cmd: []string{"ls"}})
	require.ErrorIs(t, err, errors.ErrUnsupported, "no Exec hook")

	e = newEnv(t, fake.Options{Exec: func(_ context.Context, c runtime.ContainerStatus, o runtime.ExecOptions) (int, error) {
		fmt.Fprintf(o.Stdout, "%s ran %s\n", c.Name, strings.Join(o.Cmd, " "))
		return 3, nil
	}})
	id = e.create("app")
	_, err = e.rt.Exec(e.ctx, id, runtime.ExecOptions{Cmd: []string{"ls"}})
	require.ErrorIs(t, err, runtime.ErrNotRunning, "created, not started")
	require.NoError(t, e.rt.StartContainer(e.ctx, id))
	var out bytes.Buffer
	code, err := e.rt.Exec(e.ctx, id, runtime.ExecOptions{Cmd: []string{"ls", "/"}, Stdout: &out})
	require.NoError(t, err)
	assert.Equal(t, 3, code)
	assert.Equal(t, "app ran ls /\n", out.String())
}

// Thousands of simulated nodes: every node has its own fake runtime; no
// goroutine is started per runtime, sandbox or container.
func TestManyNodesStartNoGoroutines(t *testing.T) {
	const nodes, pods = 2000, 5
	ctx := t.Context()
	clk := clocktesting.NewFakeClock(epoch)
	before := goruntime.NumGoroutine()
	rts := make([]*fake.Runtime, nodes)
	for n := range rts {
		rt, err := fake.New(fake.Options{Clock: clk, Images: []string{images.Busybox},
			Behavior: func(runtime.Sandbox, runtime.ContainerConfig) fake.Behavior {
				return fake.Behavior{ExitAfter: time.Hour}
			}})
		require.NoError(t, err)
		rts[n] = rt
		for p := range pods {
			sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{Name: fmt.Sprint("p", p), Namespace: "ns", UID: fmt.Sprint(n, "-", p)})
			require.NoError(t, err)
			id, err := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "app", Image: images.Busybox})
			require.NoError(t, err)
			require.NoError(t, rt.StartContainer(ctx, id))
		}
	}
	assert.LessOrEqual(t, goruntime.NumGoroutine(), before, "goroutines started")
	clk.Step(time.Hour)
	ctrs, err := rts[nodes-1].ListContainers(ctx, runtime.ContainerFilter{State: runtime.ContainerExited})
	require.NoError(t, err)
	assert.Len(t, ctrs, pods)
}

func BenchmarkPodLifecycle(b *testing.B) {
	ctx := b.Context()
	rt, err := fake.New(fake.Options{Images: []string{images.Busybox}})
	require.NoError(b, err)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{Name: "p", Namespace: "ns", UID: fmt.Sprint(i)})
		if err != nil {
			b.Fatal(err)
		}
		id, err := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "app", Image: images.Busybox})
		if err != nil {
			b.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		if _, err := rt.ContainerStatus(ctx, id); err != nil {
			b.Fatal(err)
		}
		if err := rt.RemoveSandbox(ctx, sb); err != nil {
			b.Fatal(err)
		}
	}
}
