package runtime

import (
	"context"
	"io"
	"time"
)

// Runtime is a container runtime as a node agent sees it: pod sandboxes,
// containers inside them, their logs and exec sessions, images, and the
// runtime's own version and health.
//
// Implementations are safe for concurrent use. IDs are opaque strings issued
// by the runtime; pass back only IDs it returned.
type Runtime interface {
	SandboxManager
	ContainerManager
	Streamer
	ImageManager

	// Version reports the runtime's name and version for the node's status
	// (node.status.nodeInfo.containerRuntimeVersion).
	Version(ctx context.Context) (VersionInfo, error)
	// Health returns nil when the runtime answers and can run pods, or an
	// error wrapping ErrUnavailable that says why not.
	Health(ctx context.Context) error
}

// SandboxManager runs pod sandboxes: the network namespace (and IPC
// namespace) every container of a pod shares, with the pod's hostname, DNS
// settings and port mappings.
type SandboxManager interface {
	// RunSandbox creates and starts a sandbox and returns its ID once it is
	// ready. It fails with ErrInvalidArgument for a bad config, ErrAlreadyExists
	// when a sandbox of the same pod UID and attempt exists, and ErrImagePull
	// or ErrImageNeverPull when the runtime's sandbox image is missing.
	RunSandbox(ctx context.Context, config SandboxConfig) (string, error)
	// StopSandbox kills every container still running in the sandbox (without
	// grace: stop them with StopContainer first) and releases the sandbox's
	// network namespace. The sandbox stays listed until RemoveSandbox. It is
	// idempotent: stopping an absent or stopped sandbox returns nil.
	StopSandbox(ctx context.Context, id string) error
	// RemoveSandbox removes the sandbox and every container in it, stopping
	// them forcibly if needed. It is idempotent: removing an absent sandbox
	// returns nil. Node-level resources the sandbox used (a bridge network)
	// stay.
	RemoveSandbox(ctx context.Context, id string) error
	// SandboxStatus reports one sandbox, ErrNotFound if there is none.
	SandboxStatus(ctx context.Context, id string) (SandboxStatus, error)
	// ListSandboxes lists the sandboxes matching filter, in no particular order.
	ListSandboxes(ctx context.Context, filter SandboxFilter) ([]Sandbox, error)
}

// ContainerManager runs the containers of a sandbox.
type ContainerManager interface {
	// CreateContainer creates a container in a sandbox and returns its ID.
	// The image must be present (see ImageManager.PullImage); the container
	// joins the sandbox's network and IPC namespaces. It fails with
	// ErrNotFound when the sandbox or image is absent and ErrAlreadyExists
	// when the sandbox has a container of the same name and attempt.
	CreateContainer(ctx context.Context, sandboxID string, config ContainerConfig) (string, error)
	// StartContainer starts a created container and returns once it runs
	// (or has already exited).
	StartContainer(ctx context.Context, id string) error
	// StopContainer asks the container to stop (SIGTERM, or the image's stop
	// signal), waits up to gracePeriod, then kills it (SIGKILL). It blocks
	// until the container has exited. Stopping a container that is not
	// running returns nil; an absent one returns ErrNotFound. A runtime may
	// round gracePeriod up to its own resolution (Docker: whole seconds).
	StopContainer(ctx context.Context, id string, gracePeriod time.Duration) error
	// RemoveContainer removes a container, killing it if it still runs. It is
	// idempotent: removing an absent container returns nil.
	RemoveContainer(ctx context.Context, id string) error
	// ContainerStatus reports one container, ErrNotFound if there is none.
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// ListContainers lists the containers matching filter, in no particular
	// order.
	ListContainers(ctx context.Context, filter ContainerFilter) ([]Container, error)
}

// Streamer reads a container's logs, runs commands in it and attaches to
// its main process.
type Streamer interface {
	// ContainerLogs copies the container's log to stdout and stderr, one
	// writer per stream (either may be nil to drop that stream). It returns
	// when the log written so far has been copied, or, with opts.Follow, when
	// the container has exited and its log is drained or ctx ends (then it
	// returns ctx's error). Lines keep their trailing newlines.
	ContainerLogs(ctx context.Context, id string, opts LogOptions, stdout, stderr io.Writer) error
	// Exec runs opts.Cmd in a running container and returns its exit code
	// once it has exited and its output is copied; a non-zero exit code is
	// not an error. It fails with ErrNotFound for an absent container and
	// ErrNotRunning for one that is not running. When ctx ends, Exec stops
	// copying and returns ctx's error; the command may keep running. Exec
	// may return before opts.Stdin is drained: the copy of Stdin then ends
	// with Stdin's next Read.
	Exec(ctx context.Context, id string, opts ExecOptions) (int, error)
	// Attach connects to the standard streams of a running container's main
	// process: what it writes from now on is copied to opts.Stdout and
	// opts.Stderr, and opts.Stdin to its standard input when the container
	// keeps one open (else Stdin is not read). It returns nil once the
	// process has exited and its output is copied, or ctx's error when ctx
	// ends first (the process keeps running: detaching never stops it). It
	// fails with ErrNotFound for an absent container and ErrNotRunning for
	// one that is not running.
	Attach(ctx context.Context, id string, opts AttachOptions) error
}

// AttachOptions are the streams of an attach session (see
// Streamer.Attach). Nil streams are not attached.
type AttachOptions struct {
	// Stdin is copied to the process's standard input.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output; with TTY (a
	// container running on a terminal) both arrive merged on Stdout.
	Stdout io.Writer
	Stderr io.Writer
	// TTY says the client expects a terminal (the container's own setting
	// decides whether output is merged).
	TTY bool
	// Resize, with TTY, delivers terminal size changes until it is closed
	// or the session ends.
	Resize <-chan TerminalSize
}

// ImageManager pulls, lists and removes images.
type ImageManager interface {
	// PullImage makes ref present according to opts.Policy and returns it:
	// PullNever fails with ErrImageNeverPull when ref is absent;
	// PullIfNotPresent (the default) pulls only when ref is absent;
	// PullAlways pulls. A failed pull returns an error wrapping ErrImagePull
	// (and the context's error when ctx ended), whose message says why.
	PullImage(ctx context.Context, ref string, opts PullOptions) (Image, error)
	// ImageStatus reports a local image, ErrNotFound if ref is not present.
	ImageStatus(ctx context.Context, ref string) (Image, error)
	// ListImages lists the local images.
	ListImages(ctx context.Context) ([]Image, error)
	// RemoveImage removes the image ref names (the tag, and the image when no
	// other tag refers to it). It is idempotent: removing an absent image
	// returns nil. It fails when a container still uses the image.
	RemoveImage(ctx context.Context, ref string) error
}
