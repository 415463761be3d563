package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime"
)

// ContainerLogs reads the container's log from Docker (json-file or local
// log driver) and demultiplexes stdout and stderr.
func (r *Runtime) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	obj := fmt.Sprintf("container %q: logs", id)
	lo := client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Timestamps: opts.Timestamps,
		Tail:       "all",
	}
	if opts.TailLines != nil {
		lo.Tail = strconv.FormatInt(max(0, *opts.TailLines), 10)
	}
	if !opts.Since.IsZero() {
		lo.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	rc, err := r.api.ContainerLogs(ctx, id, lo)
	if err != nil {
		return wrap(obj, err, nil)
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	if _, err := stdcopy.StdCopy(orDiscard(stdout), orDiscard(stderr), rc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", obj, ctx.Err())
		}
		return fmt.Errorf("%s: %w", obj, err)
	}
	return ctx.Err()
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Exec runs a command with docker exec over a hijacked connection.
func (r *Runtime) Exec(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
	obj := fmt.Sprintf("container %q: exec %q", id, opts.Cmd)
	if err := opts.Validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", obj, err)
	}
	created, err := r.api.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd:          opts.Cmd,
		TTY:          opts.TTY,
		AttachStdin:  opts.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return 0, wrap(obj, err, runtime.ErrNotRunning)
	}
	att, err := r.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: opts.TTY})
	if err != nil {
		return 0, wrap(obj+": attach", err, runtime.ErrNotRunning)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()

	done := make(chan struct{})
	defer close(done)
	if opts.TTY && opts.Resize != nil {
		go resizeLoop(opts.Resize, done, func(sz runtime.TerminalSize) {
			_, _ = r.api.ExecResize(ctx, created.ID, client.ExecResizeOptions{Height: uint(sz.Height), Width: uint(sz.Width)})
		})
	}
	if opts.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, opts.Stdin)
			_ = att.CloseWrite()
		}()
	}

	if opts.TTY {
		_, err = io.Copy(orDiscard(opts.Stdout), att.Reader)
	} else {
		_, err = stdcopy.StdCopy(orDiscard(opts.Stdout), orDiscard(opts.Stderr), att.Reader)
	}
	if ctx.Err() != nil {
		return 0, fmt.Errorf("%s: %w", obj, ctx.Err())
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s: output: %w", obj, err)
	}
	return r.execExitCode(ctx, obj, created.ID)
}

// execExitCode waits for an exec whose output has ended to be recorded as
// exited (Docker closes the stream slightly before) and returns its code.
func (r *Runtime) execExitCode(ctx context.Context, obj, execID string) (int, error) {
	wait := time.Millisecond
	for {
		ins, err := r.api.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return 0, wrap(obj+": inspect", err, nil)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("%s: %w", obj, ctx.Err())
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// resizeLoop calls resize with each terminal size until sizes closes or
// done (an exec's or a container's terminal). A resize after the process
// ended fails harmlessly: its error is dropped.
func resizeLoop(sizes <-chan runtime.TerminalSize, done <-chan struct{}, resize func(runtime.TerminalSize)) {
	for {
		select {
		case <-done:
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			resize(sz)
		}
	}
}
