package runtimetest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
)

// logs returns a container's log, one string per stream.
func (h *harness) logs(id string, opts runtime.LogOptions) (stdout, stderr string) {
	h.t.Helper()
	var o, e bytes.Buffer
	require.NoError(h.t, h.rt.ContainerLogs(h.ctx, id, opts, &o, &e))
	return o.String(), e.String()
}

// waitLog polls a container's stdout until it contains s.
func (h *harness) waitLog(id, s string) {
	h.t.Helper()
	h.eventually(func() (bool, string) {
		out, _ := h.logs(id, runtime.LogOptions{})
		return strings.Contains(out, s), fmt.Sprintf("stdout of %s is %q, waiting for %q", id, out, s)
	})
}

func testExitAndLogs(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	fail := h.start(sb, shell("fail", `echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 3`))
	ok := h.start(sb, shell("ok", `echo fine`))

	st := h.waitState(fail, runtime.ContainerExited)
	assert.Equal(t, 3, st.ExitCode)
	assert.Equal(t, runtime.ReasonError, st.Reason)
	assert.False(t, st.FinishedAt.IsZero(), "FinishedAt")
	assert.False(t, st.FinishedAt.Before(st.StartedAt), "finished %v before started %v", st.FinishedAt, st.StartedAt)
	out, errOut := h.logs(fail, runtime.LogOptions{})
	assert.Equal(t, "out1\nout2\n", out, "stdout")
	assert.Equal(t, "err1\nerr2\n", errOut, "stderr")

	st = h.waitState(ok, runtime.ContainerExited)
	assert.Equal(t, 0, st.ExitCode)
	assert.Equal(t, runtime.ReasonCompleted, st.Reason)

	// Either writer may be nil.
	require.NoError(t, h.rt.ContainerLogs(h.ctx, fail, runtime.LogOptions{}, nil, nil))
	var only bytes.Buffer
	require.NoError(t, h.rt.ContainerLogs(h.ctx, fail, runtime.LogOptions{}, nil, &only))
	assert.Equal(t, "err1\nerr2\n", only.String())

	err := h.rt.ContainerLogs(h.ctx, "no-such-container-"+h.id, runtime.LogOptions{}, nil, nil)
	assert.ErrorIs(t, err, runtime.ErrNotFound)
}

func testLogOptions(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	id := h.start(sb, shell("lines", `for i in 1 2 3 4 5; do echo line$i; done`))
	st := h.waitState(id, runtime.ContainerExited)
	require.Equal(t, 0, st.ExitCode)

	two, zero := int64(2), int64(0)
	for _, tc := range []struct {
		name string
		opts runtime.LogOptions
		want string
	}{
		{"all", runtime.LogOptions{}, "line1\nline2\nline3\nline4\nline5\n"},
		{"tail 2", runtime.LogOptions{TailLines: &two}, "line4\nline5\n"},
		{"tail 0", runtime.LogOptions{TailLines: &zero}, ""},
		{"since before start", runtime.LogOptions{Since: st.StartedAt.Add(-time.Minute)}, "line1\nline2\nline3\nline4\nline5\n"},
		{"since after exit", runtime.LogOptions{Since: st.FinishedAt.Add(time.Minute)}, ""},
		{"follow an exited container", runtime.LogOptions{Follow: true, TailLines: &two}, "line4\nline5\n"},
	} {
		out, _ := h.logs(id, tc.opts)
		assert.Equal(t, tc.want, out, tc.name)
	}

	out, _ := h.logs(id, runtime.LogOptions{Timestamps: true})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 5, "timestamped log %q", out)
	for i, l := range lines {
		ts, text, ok := strings.Cut(l, " ")
		require.True(t, ok, "line %q has no timestamp", l)
		at, err := time.Parse(time.RFC3339Nano, ts)
		if assert.NoError(t, err, "timestamp of %q", l) {
			assert.False(t, at.Before(st.StartedAt.Add(-time.Second)) || at.After(st.FinishedAt.Add(time.Second)),
				"line %q at %v, container ran %v to %v", l, at, st.StartedAt, st.FinishedAt)
		}
		assert.Equal(t, "line"+strconv.Itoa(i+1), text)
	}
}

func testLogsFollow(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	// The container waits for a file the test creates by exec, so the
	// follower is attached before the last line is written. It lingers a
	// moment after the file appears: a container that exits while the exec
	// is still being reaped takes the exec down with it (exit code 137).
	id := h.start(sb, shell("talker",
		`echo first; echo first-err >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done; sleep 1; echo second; echo second-err >&2; exit 0`))
	h.waitLog(id, "first")

	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- h.rt.ContainerLogs(h.ctx, id, runtime.LogOptions{Follow: true}, &out, &errOut) }()
	h.eventually(func() (bool, string) {
		return out.String() == "first\n", fmt.Sprintf("follower has %q", out.String())
	})
	select {
	case err := <-done:
		t.Fatalf("following a running container returned early: %v", err)
	default:
	}
	code, err := h.rt.Exec(h.ctx, id, runtime.ExecOptions{Cmd: []string{"touch", "/tmp/go"}})
	require.NoError(t, err)
	require.Equal(t, 0, code)

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatalf("following did not end when the container exited; have %q", out.String())
	}
	assert.Equal(t, "first\nsecond\n", out.String())
	assert.Equal(t, "first-err\nsecond-err\n", errOut.String())
	assert.Equal(t, runtime.ContainerExited, h.status(id).State)

	// Following ends with the context too.
	sleeperID := h.start(sb, shell("quiet", `echo hi; exec sleep 3600`))
	h.waitLog(sleeperID, "hi")
	ctx, cancel := context.WithCancel(h.ctx)
	done2 := make(chan error, 1)
	var out2 syncBuffer
	go func() { done2 <- h.rt.ContainerLogs(ctx, sleeperID, runtime.LogOptions{Follow: true}, &out2, nil) }()
	h.eventually(func() (bool, string) { return out2.String() == "hi\n", fmt.Sprintf("follower has %q", out2.String()) })
	cancel()
	select {
	case err := <-done2:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(waitTimeout):
		t.Fatal("following did not end when its context was canceled")
	}
}

func testExec(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	id := h.start(sb, sleeper("target"))
	h.waitState(id, runtime.ContainerRunning)

	for _, tc := range []struct {
		name                string
		opts                runtime.ExecOptions
		wantCode            int
		wantOut, wantErrOut string
	}{
		{"output and exit code", runtime.ExecOptions{Cmd: []string{"sh", "-c", "echo hi; echo oops >&2; exit 7"}}, 7, "hi\n", "oops\n"},
		{"success", runtime.ExecOptions{Cmd: []string{"true"}}, 0, "", ""},
		{"stdin", runtime.ExecOptions{Cmd: []string{"sh", "-c", "cat; echo done >&2"}, Stdin: strings.NewReader("hello\nworld\n")}, 0, "hello\nworld\n", "done\n"},
		{"empty stdin", runtime.ExecOptions{Cmd: []string{"wc", "-c"}, Stdin: strings.NewReader("")}, 0, "0\n", ""},
		{"environment of the container", runtime.ExecOptions{Cmd: []string{"sh", "-c", "echo $HOME"}}, 0, "/root\n", ""},
	} {
		var out, errOut bytes.Buffer
		tc.opts.Stdout, tc.opts.Stderr = &out, &errOut
		code, err := h.rt.Exec(h.ctx, id, tc.opts)
		if !assert.NoError(t, err, tc.name) {
			continue
		}
		assert.Equal(t, tc.wantCode, code, tc.name)
		assert.Equal(t, tc.wantOut, out.String(), "%s: stdout", tc.name)
		assert.Equal(t, tc.wantErrOut, errOut.String(), "%s: stderr", tc.name)
	}

	// A terminal: output merged on stdout, resizes accepted.
	resize := make(chan runtime.TerminalSize, 1)
	resize <- runtime.TerminalSize{Width: 100, Height: 30}
	var tty bytes.Buffer
	code, err := h.rt.Exec(h.ctx, id, runtime.ExecOptions{
		Cmd: []string{"sh", "-c", "tty; echo to-stderr >&2"}, TTY: true, Stdout: &tty, Resize: resize,
	})
	close(resize)
	require.NoError(t, err)
	assert.Equal(t, 0, code)
	assert.Contains(t, tty.String(), "/dev/pts/", "tty output %q", tty.String())
	assert.Contains(t, tty.String(), "to-stderr", "stderr arrives on stdout with a TTY")

	_, err = h.rt.Exec(h.ctx, id, runtime.ExecOptions{})
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "empty command")
	_, err = h.rt.Exec(h.ctx, "no-such-container-"+h.id, runtime.ExecOptions{Cmd: []string{"true"}})
	assert.ErrorIs(t, err, runtime.ErrNotFound)
	stopped := h.start(sb, shell("done", "exit 0"))
	h.waitState(stopped, runtime.ContainerExited)
	_, err = h.rt.Exec(h.ctx, stopped, runtime.ExecOptions{Cmd: []string{"true"}})
	assert.ErrorIs(t, err, runtime.ErrNotRunning)
}

func testStartError(h *harness) {
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	cfg := runtime.ContainerConfig{Name: "broken", Image: Busybox, Command: []string{"/no/such/program"}}
	id := h.create(sb, cfg)
	err := h.rt.StartContainer(h.ctx, id)
	require.Error(h.t, err, "starting a container whose program does not exist")
	assert.Contains(h.t, err.Error(), id)
	st := h.status(id)
	assert.Equal(h.t, runtime.ContainerExited, st.State)
	assert.Equal(h.t, runtime.ReasonStartError, st.Reason)
	assert.NotEmpty(h.t, st.Message)
	assert.NotZero(h.t, st.ExitCode)
}

// A container that traps SIGTERM exits cleanly well within a long grace
// period: exit code 0, and its trap ran.
func testStopTrapped(h *harness) {
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	id := h.start(sb, shell("trapper", `trap 'echo got-TERM; exit 0' TERM; echo ready; while true; do sleep 0.05; done`))
	h.waitLog(id, "ready")
	require.NoError(h.t, h.rt.StopContainer(h.ctx, id, time.Minute))
	st := h.status(id)
	assert.Equal(h.t, runtime.ContainerExited, st.State)
	assert.Equal(h.t, 0, st.ExitCode, "a container that handles SIGTERM exits with its own code, not 137")
	assert.Equal(h.t, runtime.ReasonCompleted, st.Reason)
	out, _ := h.logs(id, runtime.LogOptions{})
	assert.Contains(h.t, out, "got-TERM")
}

// A container that ignores SIGTERM is killed when the grace period ends:
// exit code 137 (128+SIGKILL).
func testStopIgnored(h *harness) {
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	id := h.start(sb, shell("stubborn", `trap 'echo ignoring-TERM' TERM; echo ready; while true; do sleep 0.05; done`))
	h.waitLog(id, "ready")
	require.NoError(h.t, h.rt.StopContainer(h.ctx, id, time.Second))
	st := h.status(id)
	assert.Equal(h.t, runtime.ContainerExited, st.State)
	assert.Equal(h.t, 137, st.ExitCode, "killed after the grace period")
	assert.Equal(h.t, runtime.ReasonError, st.Reason)
	out, _ := h.logs(id, runtime.LogOptions{})
	assert.Contains(h.t, out, "ignoring-TERM", "SIGTERM was delivered first")
}

// Two containers of one pod talk over 127.0.0.1, and see the pod's hostname.
func testLocalhost(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	h.pullLocal(Echo)
	cfg := h.podConfig()
	sb := h.runSandbox(cfg)
	const port = "18080"
	h.start(sb, runtime.ContainerConfig{Name: "echo", Image: Echo, Env: []runtime.EnvVar{{Name: "PORT", Value: port}}})
	client := h.start(sb, sleeper("client"))
	h.waitState(client, runtime.ContainerRunning)

	var out, errOut bytes.Buffer
	h.eventually(func() (bool, string) {
		out.Reset()
		errOut.Reset()
		code, err := h.rt.Exec(h.ctx, client, runtime.ExecOptions{
			Cmd:    []string{"wget", "-qO-", "http://127.0.0.1:" + port + "/ping"},
			Stdout: &out, Stderr: &errOut,
		})
		return err == nil && code == 0, fmt.Sprintf("wget: code %d, err %v, stderr %q", code, err, errOut.String())
	})
	assert.Contains(t, out.String(), "hostname: "+cfg.Hostname+"\n")
	assert.Contains(t, out.String(), "path: /ping\n")
	assert.Contains(t, out.String(), "remote: 127.0.0.1:")

	// IPC is shared too: both containers see the same System V IPC namespace.
	var ipc1, ipc2 bytes.Buffer
	_, err := h.rt.Exec(h.ctx, client, runtime.ExecOptions{Cmd: []string{"readlink", "/proc/self/ns/ipc"}, Stdout: &ipc1})
	require.NoError(t, err)
	other := h.start(sb, sleeper("other"))
	h.waitState(other, runtime.ContainerRunning)
	_, err = h.rt.Exec(h.ctx, other, runtime.ExecOptions{Cmd: []string{"readlink", "/proc/self/ns/ipc"}, Stdout: &ipc2})
	require.NoError(t, err)
	assert.NotEmpty(t, ipc1.String())
	assert.Equal(t, ipc1.String(), ipc2.String(), "IPC namespace")
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
