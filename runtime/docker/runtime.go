package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/images"
)

// Options configure a Runtime. The zero value is usable: it talks to the
// daemon the environment names and uses images.Pause.
type Options struct {
	// Client talks to the Docker daemon. Nil: New connects to the daemon the
	// environment names (DOCKER_HOST, ... else the local socket), negotiating
	// the API version on first use, and Close closes that client. A given
	// client stays the caller's; it should negotiate the API version too
	// (client.New does by default).
	Client client.APIClient
	// PauseImage is the image of sandbox containers; it must hold the
	// namespaces until SIGTERM. Default images.Pause. When absent it is
	// pulled (policy IfNotPresent); build images.Pause with images.Build.
	PauseImage string
	// DefaultNetwork is the Docker network of sandboxes whose config names
	// neither a bridge nor host networking. Default "bridge".
	DefaultNetwork string
	// NodeName, when set, is put on everything the runtime creates (label
	// gantry.io/node, and in container names), and the runtime sees only
	// what carries it: several node agents can share one daemon.
	NodeName string
}

var nodeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func (o *Options) complete() error {
	if o.PauseImage == "" {
		o.PauseImage = images.Pause
	}
	if o.DefaultNetwork == "" {
		o.DefaultNetwork = "bridge"
	}
	if o.NodeName != "" && !nodeNameRE.MatchString(o.NodeName) {
		return fmt.Errorf("%w: docker runtime: node name %q: must be letters, digits, '.', '_' or '-'", runtime.ErrInvalidArgument, o.NodeName)
	}
	if o.DefaultNetwork == "host" || strings.HasPrefix(o.DefaultNetwork, "container:") {
		return fmt.Errorf("%w: docker runtime: default network %q: must be a bridge network", runtime.ErrInvalidArgument, o.DefaultNetwork)
	}
	return nil
}

// Runtime is a runtime.Runtime on Docker Engine. A sandbox is a pause
// container that holds the pod's network and IPC namespaces; app containers
// join them (--network container:<pause> --ipc container:<pause>). A sandbox
// whose config names a bridge network and subnet is attached to a Docker
// bridge network of that name and subnet, created when absent, so the pod
// gets its IP from the node's pod subnet.
//
// Sandbox and container IDs are Docker container IDs. A Runtime is safe for
// concurrent use; it keeps no state the daemon does not also have, apart
// from caches, so several Runtimes (or a restarted process) can share a
// daemon.
type Runtime struct {
	api       client.APIClient
	ownClient bool
	opts      Options

	netMu    sync.Mutex
	networks map[string]netip.Prefix // bridge networks known to exist, with their subnet

	// sandboxes caches the identity of sandboxes (immutable) by ID, so that
	// CreateContainer needs no inspect.
	sandboxes sync.Map // string -> runtime.Sandbox
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a Runtime configured by opts. It does not contact the daemon:
// use Health for that.
func New(opts Options) (*Runtime, error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	r := &Runtime{opts: opts, api: opts.Client, networks: map[string]netip.Prefix{}}
	if r.api == nil {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return nil, fmt.Errorf("docker runtime: client: %w", err)
		}
		r.api, r.ownClient = cli, true
	}
	return r, nil
}

// Close closes the Docker client if New made it. It leaves everything the
// runtime created running.
func (r *Runtime) Close() error {
	if r.ownClient {
		return r.api.Close()
	}
	return nil
}

// Version reports the daemon's version and the negotiated API version.
func (r *Runtime) Version(ctx context.Context) (runtime.VersionInfo, error) {
	v, err := r.api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return runtime.VersionInfo{}, wrap("docker version", err, nil)
	}
	return runtime.VersionInfo{RuntimeName: "docker", RuntimeVersion: v.Version, APIVersion: r.api.ClientVersion()}, nil
}

// Health pings the daemon.
func (r *Runtime) Health(ctx context.Context) error {
	if _, err := r.api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("docker ping: %w: %w", runtime.ErrUnavailable, err)
		}
		return fmt.Errorf("docker ping %s: %w: %w", r.api.DaemonHost(), runtime.ErrUnavailable, err)
	}
	return nil
}

// wrap attributes a Docker error to obj and adds the runtime sentinel it
// corresponds to. conflict is the sentinel a 409 Conflict means for this call
// (nil: none).
func wrap(obj string, err error, conflict error) error {
	var sentinel error
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		sentinel = runtime.ErrNotFound
	case cerrdefs.IsConflict(err):
		sentinel = conflict
	case cerrdefs.IsInvalidArgument(err):
		sentinel = runtime.ErrInvalidArgument
	case client.IsErrConnectionFailed(err), cerrdefs.IsUnavailable(err):
		sentinel = runtime.ErrUnavailable
	}
	if sentinel == nil || errors.Is(err, sentinel) {
		return fmt.Errorf("%s: %w", obj, err)
	}
	return fmt.Errorf("%s: %w: %w", obj, sentinel, err)
}

// isNotFound reports whether err is Docker's or the runtime's "not found".
func isNotFound(err error) bool {
	return err != nil && (cerrdefs.IsNotFound(err) || errors.Is(err, runtime.ErrNotFound))
}

// isConflict reports whether err is Docker's 409 Conflict.
func isConflict(err error) bool { return err != nil && cerrdefs.IsConflict(err) }

// Label keys the docker runtime uses for itself. They are not returned in
// runtime.Sandbox.Labels or runtime.Container.Labels.
const (
	// labelAnnotationPrefix + key holds an annotation (Docker 20.10 has no
	// container annotations).
	labelAnnotationPrefix = "docker.gantry.io/annotation."
	// labelImage is the image reference a container was created with (Docker
	// lists the image ID instead once the tag moved).
	labelImage = "docker.gantry.io/image"
	// internalPrefix marks them all.
	internalPrefix = "docker.gantry.io/"
)

// dockerLabels returns the Docker labels for an object with runtime labels
// and annotations.
func (r *Runtime) dockerLabels(labels, annotations map[string]string) map[string]string {
	l := make(map[string]string, len(labels)+len(annotations)+1)
	for k, v := range labels {
		if !strings.HasPrefix(k, internalPrefix) {
			l[k] = v
		}
	}
	for k, v := range annotations {
		l[labelAnnotationPrefix+k] = v
	}
	if r.opts.NodeName != "" {
		l[runtime.LabelNode] = r.opts.NodeName
	}
	return l
}

// splitLabels undoes dockerLabels.
func splitLabels(all map[string]string) (labels, annotations map[string]string) {
	labels = make(map[string]string, len(all))
	for k, v := range all {
		switch {
		case strings.HasPrefix(k, labelAnnotationPrefix):
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[strings.TrimPrefix(k, labelAnnotationPrefix)] = v
		case strings.HasPrefix(k, internalPrefix):
		default:
			labels[k] = v
		}
	}
	return labels, annotations
}

// owns reports whether a Docker object with labels is a gantry object of
// kind (runtime.LabelKindSandbox or runtime.LabelKindContainer) of this
// runtime's node.
func (r *Runtime) owns(labels map[string]string, kind string) bool {
	return labels[runtime.LabelManaged] == "true" && labels[runtime.LabelKind] == kind &&
		(r.opts.NodeName == "" || labels[runtime.LabelNode] == r.opts.NodeName)
}

// baseFilters selects this runtime's objects of kind.
func (r *Runtime) baseFilters(kind string, selector map[string]string) client.Filters {
	f := make(client.Filters).
		Add("label", runtime.LabelManaged+"=true").
		Add("label", runtime.LabelKind+"="+kind)
	if r.opts.NodeName != "" {
		f.Add("label", runtime.LabelNode+"="+r.opts.NodeName)
	}
	for k, v := range selector {
		f.Add("label", k+"="+v)
	}
	return f
}

// name joins the parts of a container name, after the node name.
func (r *Runtime) name(parts ...string) string {
	all := []string{"gantry"}
	if r.opts.NodeName != "" {
		all = append(all, r.opts.NodeName)
	}
	return strings.Join(append(all, parts...), "_")
}

// parseTime reads a Docker timestamp; Docker's zero time reads as the zero
// time.Time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
