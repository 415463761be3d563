package docker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime"
)

// Attach attaches to a running container's main process with docker
// attach over a hijacked connection. Stdin is attached only when the
// container keeps its standard input open (docker run -i); output is
// demultiplexed unless the container runs on a terminal.
func (r *Runtime) Attach(ctx context.Context, id string, opts runtime.AttachOptions) error {
	obj := fmt.Sprintf("container %q: attach", id)
	res, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return wrap(obj, err, nil)
	}
	c := res.Container
	if c.Config == nil || c.State == nil || !r.owns(c.Config.Labels, runtime.LabelKindContainer) {
		return fmt.Errorf("%s: %w", obj, runtime.ErrNotFound)
	}
	if !c.State.Running {
		return fmt.Errorf("%s: %w", obj, runtime.ErrNotRunning)
	}
	withStdin := opts.Stdin != nil && c.Config.OpenStdin
	att, err := r.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream: true, Stdin: withStdin, Stdout: true, Stderr: true,
	})
	if err != nil {
		return wrap(obj, err, runtime.ErrNotRunning)
	}
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()

	done := make(chan struct{})
	defer close(done)
	if c.Config.Tty && opts.Resize != nil {
		go resizeLoop(opts.Resize, done, func(sz runtime.TerminalSize) {
			_, _ = r.api.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: uint(sz.Height), Width: uint(sz.Width)})
		})
	}
	if withStdin {
		go func() {
			_, _ = io.Copy(att.Conn, opts.Stdin)
			_ = att.CloseWrite()
		}()
	}
	if c.Config.Tty {
		_, err = io.Copy(orDiscard(opts.Stdout), att.Reader)
	} else {
		_, err = stdcopy.StdCopy(orDiscard(opts.Stdout), orDiscard(opts.Stderr), att.Reader)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", obj, ctx.Err())
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: output: %w", obj, err)
	}
	return nil
}
