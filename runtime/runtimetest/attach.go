package runtimetest

import (
	"context"
	"strings"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
)

// testAttach attaches to running containers: output from the moment of
// attaching on both streams until the process exits; detaching (ctx ends)
// leaves the process running; absent and exited containers are errors.
func testAttach(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()

	// Output until the process exits.
	ticker := h.start(sb, shell("ticker", `i=0; while [ $i -lt 30 ]; do echo tick $i; echo tock >&2; i=$((i+1)); sleep 0.1; done`))
	h.waitState(ticker, runtime.ContainerRunning)
	var out, errOut syncBuffer
	err := h.rt.Attach(h.ctx, ticker, runtime.AttachOptions{Stdout: &out, Stderr: &errOut})
	if err != nil && strings.Contains(err.Error(), "not running") {
		t.Skip("the ticker ended before attaching (a slow machine)")
	}
	require.NoError(t, err)
	assert.Contains(t, out.String(), "tick 29\n", "stdout until the end")
	assert.Contains(t, errOut.String(), "tock\n", "stderr")
	assert.NotContains(t, out.String(), "tock", "streams kept apart")

	// Detaching leaves the process running.
	target := h.start(sb, sleeper("target"))
	h.waitState(target, runtime.ContainerRunning)
	ctx, cancel := context.WithCancel(h.ctx)
	errc := make(chan error, 1)
	go func() { errc <- h.rt.Attach(ctx, target, runtime.AttachOptions{Stdout: &syncBuffer{}}) }()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	st, err := h.rt.ContainerStatus(h.ctx, target)
	require.NoError(t, err)
	assert.Equal(t, runtime.ContainerRunning, st.State, "still running after detaching")

	err = h.rt.Attach(h.ctx, "no-such-container-"+h.id, runtime.AttachOptions{Stdout: &syncBuffer{}})
	assert.ErrorIs(t, err, runtime.ErrNotFound)
	stopped := h.start(sb, shell("done", "exit 0"))
	h.waitState(stopped, runtime.ContainerExited)
	err = h.rt.Attach(h.ctx, stopped, runtime.AttachOptions{Stdout: &syncBuffer{}})
	assert.ErrorIs(t, err, runtime.ErrNotRunning)
}
