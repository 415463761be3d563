package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/runtime"
)

// Options configure a fake Runtime. The zero value is usable: real time, no
// latencies, no images, a registry that has every image except those of
// hosts under .invalid, and containers that run until stopped.
type Options struct {
	// Clock gives the time and runs the latencies and timeouts. Default: the
	// real clock. With a fake clock (k8s.io/utils/clock/testing) the runtime
	// is fully deterministic: calls that wait (latencies, grace periods, log
	// following) block until the clock is stepped.
	Clock clock.Clock

	// Images are present from the start.
	Images []string
	// Pull is the registry: it returns nil when ref can be pulled with auth,
	// or why not (PullImage wraps it in runtime.ErrImagePull). It is called
	// without locks held, after PullLatency. Nil: every pull succeeds except
	// from registry hosts under the .invalid domain (gantry.invalid/x), which
	// fail like an unresolvable host.
	Pull func(ctx context.Context, ref string, auth []runtime.AuthConfig) error

	// PullLatency is how long a pull takes; RunSandbox and StartContainer
	// take SandboxLatency and StartLatency. They run on Clock.
	PullLatency    time.Duration
	SandboxLatency time.Duration
	StartLatency   time.Duration

	// Behavior says what a container does once started; nil, or a zero
	// Behavior: it runs until stopped and exits 0 on SIGTERM. It is called
	// once per container, at creation, under the runtime's lock: it must not
	// call the runtime.
	Behavior func(sandbox runtime.Sandbox, config runtime.ContainerConfig) Behavior
	// Exec runs an exec session: it gets the container's status and the
	// options and returns the exit code. It is called without locks held.
	// Nil: Exec fails with errors.ErrUnsupported (the fake runs no processes).
	Exec func(ctx context.Context, container runtime.ContainerStatus, opts runtime.ExecOptions) (int, error)
	// Attach runs an attach session to a running container, like Exec.
	// Nil: Attach fails with errors.ErrUnsupported.
	Attach func(ctx context.Context, container runtime.ContainerStatus, opts runtime.AttachOptions) error

	// PodCIDR is the subnet of sandboxes on the default network (no bridge
	// named). Default 10.88.0.0/16.
	PodCIDR netip.Prefix
	// Version is what Version reports. Default fake://0.1.0.
	Version runtime.VersionInfo
}

// Behavior is what a fake container does once started. The zero value runs
// until stopped and exits 0 on SIGTERM at once.
type Behavior struct {
	// StartError makes StartContainer fail with it: the container is then
	// exited with reason runtime.ReasonStartError and exit code 128.
	StartError error
	// ExitAfter, when positive, makes the container exit by itself that long
	// after it started, with ExitCode and Reason (default: Completed for exit
	// code 0, Error otherwise).
	ExitAfter time.Duration
	ExitCode  int
	Reason    string
	// TermDelay is how long the container takes to exit after SIGTERM, with
	// TermExitCode (0: at once, even with a zero grace period). If the grace
	// period ends first, it is killed: exit code 137. IgnoreSIGTERM: it never
	// exits on SIGTERM.
	TermDelay     time.Duration
	TermExitCode  int
	IgnoreSIGTERM bool
	// Logs are written as the container runs, each At its offset from the
	// container's start.
	Logs []LogLine
}

// Stream names a log stream.
type Stream int

// Log streams.
const (
	Stdout Stream = iota
	Stderr
)

// LogLine is one line a fake container writes.
type LogLine struct {
	At     time.Duration
	Stream Stream
	// Text is the line; a newline is appended when it has none.
	Text string
}

// Runtime is an in-memory runtime.Runtime. It is deterministic: IDs count up,
// pod IPs are handed out in order, and all times come from Options.Clock.
// It starts no goroutines: containers change state lazily, when a call
// observes them, from the clock; calls that must wait (latencies, grace
// periods, following logs) wait on the clock in the caller's goroutine. All
// methods are safe for concurrent use.
type Runtime struct {
	opts  Options
	clock clock.Clock

	mu         sync.Mutex
	health     error
	seq        uint64
	sandboxes  map[string]*sandbox
	containers map[string]*ctr
	images     map[string]*image     // by normalized tag
	networks   map[string]*ipPool    // by bridge name ("" = default network)
	byIdentity map[string]string     // pod UID/attempt or sandbox/name/attempt -> ID
	ipOwners   map[netip.Addr]string // allocated IP -> sandbox ID
}

var _ runtime.Runtime = (*Runtime)(nil)

type sandbox struct {
	id       string
	cfg      runtime.SandboxConfig
	labels   map[string]string
	created  time.Time
	ready    bool
	ip       netip.Addr
	network  string
	starting bool
}

type ctr struct {
	id, sandboxID string
	cfg           runtime.ContainerConfig
	labels        map[string]string
	beh           Behavior
	imageID       string
	created       time.Time
	starting      bool
	started       time.Time // zero until started
	finished      time.Time // zero until exited
	exitCode      int
	reason, msg   string
	// pending is a scheduled exit (after SIGTERM), applied once the clock
	// reaches it.
	pending *exit
	logs    []logEntry // ordered by time
	removed bool
	// changed is closed (and cleared) when the container changes state in a
	// way a waiter may not foresee; made only when someone waits.
	changed chan struct{}
}

type exit struct {
	at     time.Time
	code   int
	reason string
}

type logEntry struct {
	at     time.Time
	stream Stream
	text   string
}

type image struct {
	id   string
	tags []string // familiar names
}

type ipPool struct {
	subnet netip.Prefix
	next   netip.Addr
}

// New returns a fake runtime configured by opts. It fails with
// runtime.ErrInvalidArgument for a malformed image reference or PodCIDR.
func New(opts Options) (*Runtime, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if !opts.PodCIDR.IsValid() {
		opts.PodCIDR = netip.MustParsePrefix("10.88.0.0/16")
	}
	if opts.PodCIDR.Masked() != opts.PodCIDR || opts.PodCIDR.Bits() > 30 {
		return nil, fmt.Errorf("%w: fake runtime: pod CIDR %s: must be a network of at least 4 addresses", runtime.ErrInvalidArgument, opts.PodCIDR)
	}
	if opts.Version == (runtime.VersionInfo{}) {
		opts.Version = runtime.VersionInfo{RuntimeName: "fake", RuntimeVersion: "0.1.0", APIVersion: "v1"}
	}
	if opts.PullLatency < 0 || opts.SandboxLatency < 0 || opts.StartLatency < 0 {
		return nil, fmt.Errorf("%w: fake runtime: negative latency", runtime.ErrInvalidArgument)
	}
	r := &Runtime{
		opts:       opts,
		clock:      opts.Clock,
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*ctr{},
		images:     map[string]*image{},
		networks:   map[string]*ipPool{"": {subnet: opts.PodCIDR}},
		byIdentity: map[string]string{},
		ipOwners:   map[netip.Addr]string{},
	}
	for _, ref := range opts.Images {
		if err := r.addImage(ref); err != nil {
			return nil, fmt.Errorf("fake runtime: %w", err)
		}
	}
	return r, nil
}

// SetHealth makes the runtime unavailable (err != nil) or available again
// (nil). While unavailable every call fails with an error wrapping
// runtime.ErrUnavailable and err: a node whose runtime died.
func (r *Runtime) SetHealth(err error) {
	r.mu.Lock()
	r.health = err
	r.mu.Unlock()
}

// unavailable returns the error calls fail with while unhealthy; r.mu held.
func (r *Runtime) unavailable() error {
	if r.health == nil {
		return nil
	}
	return fmt.Errorf("fake runtime: %w: %w", runtime.ErrUnavailable, r.health)
}

// Version reports Options.Version.
func (r *Runtime) Version(context.Context) (runtime.VersionInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return runtime.VersionInfo{}, err
	}
	return r.opts.Version, nil
}

// Health returns the error set with SetHealth, wrapped.
func (r *Runtime) Health(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unavailable()
}

// newID returns the next ID of kind; r.mu held.
func (r *Runtime) newID(kind string) string {
	r.seq++
	return fmt.Sprintf("%s-%08d", kind, r.seq)
}

// wait blocks until d has passed on the clock or ctx ends.
func (r *Runtime) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// --- sandboxes -----------------------------------------------------------------

// RunSandbox creates a ready sandbox after SandboxLatency, with an IP from
// its bridge's subnet (or PodCIDR).
func (r *Runtime) RunSandbox(ctx context.Context, cfg runtime.SandboxConfig) (string, error) {
	pod := fmt.Sprintf("sandbox of pod %q", cfg.Namespace+"/"+cfg.Name)
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("%s: %w", pod, err)
	}
	r.mu.Lock()
	if err := r.unavailable(); err != nil {
		r.mu.Unlock()
		return "", err
	}
	key := fmt.Sprintf("sandbox/%s/%d", cfg.UID, cfg.Attempt)
	if id, ok := r.byIdentity[key]; ok {
		r.mu.Unlock()
		return "", fmt.Errorf("%s: %w: attempt %d is sandbox %q", pod, runtime.ErrAlreadyExists, cfg.Attempt, id)
	}
	sb := &sandbox{
		id:       r.newID("sandbox"),
		cfg:      cloneSandboxConfig(cfg),
		labels:   runtime.SandboxLabels(cfg),
		created:  r.clock.Now(),
		network:  cfg.Network.Bridge,
		starting: true,
	}
	if cfg.Network.HostNetwork {
		sb.network = "host"
	} else {
		if err := r.allocateIP(sb); err != nil {
			r.mu.Unlock()
			return "", fmt.Errorf("%s: %w", pod, err)
		}
	}
	r.sandboxes[sb.id] = sb
	r.byIdentity[key] = sb.id
	r.mu.Unlock()

	err := r.wait(ctx, r.opts.SandboxLatency)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sandboxes[sb.id] != sb {
		return "", fmt.Errorf("%s: %w: removed while starting", pod, runtime.ErrNotFound)
	}
	sb.starting = false
	if err != nil {
		r.deleteSandbox(sb)
		return "", fmt.Errorf("%s: %w", pod, err)
	}
	sb.ready = true
	return sb.id, nil
}

// allocateIP gives sb the next free address of its network; r.mu held.
func (r *Runtime) allocateIP(sb *sandbox) error {
	nc := sb.cfg.Network
	pool, ok := r.networks[nc.Bridge]
	switch {
	case !ok:
		subnet := nc.Subnet
		if !subnet.IsValid() {
			subnet = r.opts.PodCIDR
		}
		pool = &ipPool{subnet: subnet}
		r.networks[nc.Bridge] = pool
	case nc.Subnet.IsValid() && pool.subnet != nc.Subnet:
		return fmt.Errorf("network %q: %w with subnet %s, not %s", nc.Bridge, runtime.ErrAlreadyExists, pool.subnet, nc.Subnet)
	}
	// The first address is the network's, the second its gateway's.
	first := pool.subnet.Addr().Next().Next()
	if !pool.next.IsValid() || !pool.subnet.Contains(pool.next) {
		pool.next = first
	}
	start := pool.next
	for {
		a := pool.next
		pool.next = a.Next()
		if !pool.subnet.Contains(pool.next) || isBroadcast(pool.subnet, pool.next) {
			pool.next = first
		}
		if _, used := r.ipOwners[a]; !used && !isBroadcast(pool.subnet, a) {
			sb.ip = a
			r.ipOwners[a] = sb.id
			return nil
		}
		if pool.next == start {
			return fmt.Errorf("network %q: subnet %s has no free address", nc.Bridge, pool.subnet)
		}
	}
}

// isBroadcast reports whether a is the last address of an IPv4 subnet.
func isBroadcast(p netip.Prefix, a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	return !p.Contains(a.Next())
}

func (r *Runtime) releaseIP(sb *sandbox) {
	if sb.ip.IsValid() && r.ipOwners[sb.ip] == sb.id {
		delete(r.ipOwners, sb.ip)
	}
	sb.ip = netip.Addr{}
}

// deleteSandbox forgets sb; r.mu held.
func (r *Runtime) deleteSandbox(sb *sandbox) {
	r.releaseIP(sb)
	delete(r.sandboxes, sb.id)
	delete(r.byIdentity, fmt.Sprintf("sandbox/%s/%d", sb.cfg.UID, sb.cfg.Attempt))
}

func (r *Runtime) sandboxView(sb *sandbox) runtime.Sandbox {
	state := runtime.SandboxNotReady
	if sb.ready {
		state = runtime.SandboxReady
	}
	return runtime.Sandbox{
		ID: sb.id, Name: sb.cfg.Name, Namespace: sb.cfg.Namespace, UID: sb.cfg.UID, Attempt: sb.cfg.Attempt,
		State: state, CreatedAt: sb.created,
		Labels: maps.Clone(sb.labels), Annotations: maps.Clone(sb.cfg.Annotations),
	}
}

// SandboxStatus reports a sandbox.
func (r *Runtime) SandboxStatus(_ context.Context, id string) (runtime.SandboxStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return runtime.SandboxStatus{}, err
	}
	sb, ok := r.sandboxes[id]
	if !ok || sb.starting {
		return runtime.SandboxStatus{}, fmt.Errorf("sandbox %q: %w", id, runtime.ErrNotFound)
	}
	st := runtime.SandboxStatus{
		Sandbox: r.sandboxView(sb), IP: sb.ip, Network: sb.network,
		HostNetwork: sb.cfg.Network.HostNetwork, Hostname: sb.cfg.Hostname,
	}
	if st.Network == "" {
		st.Network = "default"
	}
	return st, nil
}

// ListSandboxes lists sandboxes in creation order.
func (r *Runtime) ListSandboxes(_ context.Context, f runtime.SandboxFilter) ([]runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return nil, err
	}
	var out []runtime.Sandbox
	for _, id := range slices.Sorted(maps.Keys(r.sandboxes)) {
		sb := r.sandboxes[id]
		if sb.starting || (f.ID != "" && f.ID != id) || !runtime.MatchLabels(sb.labels, f.Labels) {
			continue
		}
		v := r.sandboxView(sb)
		if f.State != "" && f.State != v.State {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// StopSandbox kills the sandbox's containers and releases its IP.
func (r *Runtime) StopSandbox(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return err
	}
	sb, ok := r.sandboxes[id]
	if !ok {
		return nil
	}
	now := r.clock.Now()
	for _, c := range r.containers {
		if c.sandboxID == id {
			r.kill(c, now)
		}
	}
	sb.ready = false
	r.releaseIP(sb)
	return nil
}

// RemoveSandbox removes the sandbox and its containers.
func (r *Runtime) RemoveSandbox(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return err
	}
	sb, ok := r.sandboxes[id]
	if !ok {
		return nil
	}
	for _, c := range r.containers {
		if c.sandboxID == id {
			r.removeContainer(c)
		}
	}
	r.deleteSandbox(sb)
	return nil
}

// --- containers ----------------------------------------------------------------

// CreateContainer creates a container in a ready sandbox.
func (r *Runtime) CreateContainer(_ context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	obj := fmt.Sprintf("container %q of sandbox %q", cfg.Name, sandboxID)
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("%s: %w", obj, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return "", err
	}
	sb, ok := r.sandboxes[sandboxID]
	if !ok || sb.starting {
		return "", fmt.Errorf("%s: sandbox: %w", obj, runtime.ErrNotFound)
	}
	obj = fmt.Sprintf("container %q of pod %q", cfg.Name, sb.cfg.Namespace+"/"+sb.cfg.Name)
	img, err := r.lookupImage(cfg.Image)
	if err != nil {
		return "", fmt.Errorf("%s: %w", obj, err)
	}
	key := fmt.Sprintf("container/%s/%s/%d", sandboxID, cfg.Name, cfg.Attempt)
	if id, ok := r.byIdentity[key]; ok {
		return "", fmt.Errorf("%s: %w: attempt %d is container %q", obj, runtime.ErrAlreadyExists, cfg.Attempt, id)
	}
	view := r.sandboxView(sb)
	c := &ctr{
		id:        r.newID("container"),
		sandboxID: sandboxID,
		cfg:       cloneContainerConfig(cfg),
		labels:    runtime.ContainerLabels(view, cfg),
		imageID:   img.id,
		created:   r.clock.Now(),
	}
	if r.opts.Behavior != nil {
		c.beh = r.opts.Behavior(view, cloneContainerConfig(cfg))
		c.beh.Logs = slices.Clone(c.beh.Logs)
	}
	r.containers[c.id] = c
	r.byIdentity[key] = c.id
	return c.id, nil
}

// StartContainer starts a container after StartLatency.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	obj := fmt.Sprintf("container %q", id)
	r.mu.Lock()
	if err := r.unavailable(); err != nil {
		r.mu.Unlock()
		return err
	}
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("%s: %w", obj, runtime.ErrNotFound)
	}
	if c.starting || !c.started.IsZero() || !c.finished.IsZero() {
		r.mu.Unlock()
		return fmt.Errorf("%s: start: already started", obj)
	}
	if sb := r.sandboxes[c.sandboxID]; sb == nil || !sb.ready {
		r.mu.Unlock()
		return fmt.Errorf("%s: start: sandbox %q is not ready", obj, c.sandboxID)
	}
	c.starting = true
	r.mu.Unlock()

	err := r.wait(ctx, r.opts.StartLatency)

	r.mu.Lock()
	defer r.mu.Unlock()
	c.starting = false
	if c.removed {
		return fmt.Errorf("%s: %w: removed while starting", obj, runtime.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: start: %w", obj, err)
	}
	now := r.clock.Now()
	if c.beh.StartError != nil {
		c.finished, c.exitCode = now, 128
		c.reason, c.msg = runtime.ReasonStartError, c.beh.StartError.Error()
		c.notify()
		return fmt.Errorf("%s: start: %w", obj, c.beh.StartError)
	}
	c.started = now
	for _, l := range c.beh.Logs {
		c.addLog(now.Add(l.At), l.Stream, l.Text)
	}
	c.notify()
	return nil
}

// StopContainer sends the fake SIGTERM and waits, on the clock, for the
// container to exit or the grace period to end (then it is killed).
func (r *Runtime) StopContainer(ctx context.Context, id string, gracePeriod time.Duration) error {
	obj := fmt.Sprintf("container %q", id)
	r.mu.Lock()
	if err := r.unavailable(); err != nil {
		r.mu.Unlock()
		return err
	}
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("%s: %w", obj, runtime.ErrNotFound)
	}
	now := r.clock.Now()
	c.settle(now)
	if c.started.IsZero() || !c.finished.IsZero() {
		r.mu.Unlock()
		return nil // not running
	}
	gracePeriod = max(0, gracePeriod)
	e := &exit{at: now.Add(gracePeriod), code: 137, reason: runtime.ReasonError}
	if !c.beh.IgnoreSIGTERM && (c.beh.TermDelay == 0 || c.beh.TermDelay < gracePeriod) {
		e = &exit{at: now.Add(c.beh.TermDelay), code: c.beh.TermExitCode}
	}
	if c.pending == nil || e.at.Before(c.pending.at) {
		c.pending = e
	}
	for {
		c.settle(r.clock.Now())
		if !c.finished.IsZero() || c.removed {
			r.mu.Unlock()
			return nil
		}
		wake := c.nextEvent()
		changed := c.watch()
		r.mu.Unlock()
		if err := r.waitUntil(ctx, wake, changed); err != nil {
			return fmt.Errorf("%s: stop: %w", obj, err)
		}
		r.mu.Lock()
	}
}

// waitUntil blocks until the clock reaches at (zero: no deadline), changed is
// closed, or ctx ends.
func (r *Runtime) waitUntil(ctx context.Context, at time.Time, changed <-chan struct{}) error {
	var tc <-chan time.Time
	if !at.IsZero() {
		t := r.clock.NewTimer(max(0, at.Sub(r.clock.Now())))
		defer t.Stop()
		tc = t.C()
	}
	select {
	case <-tc:
		return nil
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RemoveContainer kills and forgets a container.
func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return err
	}
	if c, ok := r.containers[id]; ok {
		r.removeContainer(c)
	}
	return nil
}

// kill makes a running container exit with 137 now; r.mu held.
func (r *Runtime) kill(c *ctr, now time.Time) {
	c.settle(now)
	if !c.started.IsZero() && c.finished.IsZero() {
		c.finished, c.exitCode, c.reason = now, 137, runtime.ReasonError
		c.pending = nil
		c.notify()
	}
}

// removeContainer kills and forgets c; r.mu held.
func (r *Runtime) removeContainer(c *ctr) {
	r.kill(c, r.clock.Now())
	c.removed = true
	c.notify()
	delete(r.containers, c.id)
	delete(r.byIdentity, fmt.Sprintf("container/%s/%s/%d", c.sandboxID, c.cfg.Name, c.cfg.Attempt))
}

// settle applies the exits due by now.
func (c *ctr) settle(now time.Time) {
	if c.started.IsZero() || !c.finished.IsZero() {
		return
	}
	var due *exit
	if c.beh.ExitAfter > 0 {
		due = &exit{at: c.started.Add(c.beh.ExitAfter), code: c.beh.ExitCode, reason: c.beh.Reason}
	}
	if c.pending != nil && (due == nil || c.pending.at.Before(due.at)) {
		due = c.pending
	}
	if due == nil || now.Before(due.at) {
		return
	}
	c.finished, c.exitCode, c.reason = due.at, due.code, due.reason
	if c.reason == "" {
		c.reason = runtime.ReasonCompleted
		if c.exitCode != 0 {
			c.reason = runtime.ReasonError
		}
	}
	c.pending = nil
}

// nextEvent is the earliest future time the container changes by itself:
// an exit or a log line (zero: none).
func (c *ctr) nextEvent() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if !c.started.IsZero() && c.finished.IsZero() {
		if c.beh.ExitAfter > 0 {
			consider(c.started.Add(c.beh.ExitAfter))
		}
		if c.pending != nil {
			consider(c.pending.at)
		}
	}
	return next
}

// watch returns a channel closed at the container's next unforeseeable
// change.
func (c *ctr) watch() <-chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *ctr) notify() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

func (c *ctr) addLog(at time.Time, s Stream, text string) {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	i := len(c.logs)
	for i > 0 && c.logs[i-1].at.After(at) {
		i--
	}
	c.logs = slices.Insert(c.logs, i, logEntry{at: at, stream: s, text: text})
}

func (r *Runtime) containerView(c *ctr) runtime.Container {
	state := runtime.ContainerCreated
	switch {
	case !c.finished.IsZero():
		state = runtime.ContainerExited
	case !c.started.IsZero():
		state = runtime.ContainerRunning
	}
	return runtime.Container{
		ID: c.id, SandboxID: c.sandboxID, Name: c.cfg.Name, Attempt: c.cfg.Attempt,
		Image: c.cfg.Image, ImageID: c.imageID, State: state, CreatedAt: c.created,
		Labels: maps.Clone(c.labels), Annotations: maps.Clone(c.cfg.Annotations),
	}
}

func (r *Runtime) status(c *ctr) runtime.ContainerStatus {
	c.settle(r.clock.Now())
	st := runtime.ContainerStatus{
		Container: r.containerView(c), StartedAt: c.started, FinishedAt: c.finished,
		Resources: c.cfg.Resources,
	}
	if st.Resources.CPUQuota > 0 && st.Resources.CPUPeriod == 0 {
		st.Resources.CPUPeriod = 100000
	}
	if st.State == runtime.ContainerExited {
		st.ExitCode, st.Reason, st.Message = c.exitCode, c.reason, c.msg
	}
	return st
}

// ContainerStatus reports a container.
func (r *Runtime) ContainerStatus(_ context.Context, id string) (runtime.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return runtime.ContainerStatus{}, err
	}
	c, ok := r.containers[id]
	if !ok {
		return runtime.ContainerStatus{}, fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	return r.status(c), nil
}

// ListContainers lists containers in creation order.
func (r *Runtime) ListContainers(_ context.Context, f runtime.ContainerFilter) ([]runtime.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return nil, err
	}
	now := r.clock.Now()
	var out []runtime.Container
	for _, id := range slices.Sorted(maps.Keys(r.containers)) {
		c := r.containers[id]
		if (f.ID != "" && f.ID != id) || (f.SandboxID != "" && f.SandboxID != c.sandboxID) || !runtime.MatchLabels(c.labels, f.Labels) {
			continue
		}
		c.settle(now)
		v := r.containerView(c)
		if f.State != "" && f.State != v.State {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// WriteLog appends a line to a container's log at the current time, as if
// the container had written it.
func (r *Runtime) WriteLog(id string, s Stream, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	c.addLog(r.clock.Now(), s, text)
	c.notify()
	return nil
}

// --- logs and exec -------------------------------------------------------------

// ContainerLogs copies the lines the container has written by now (its
// Behavior's Logs and WriteLog's); with Follow it waits on the clock for more
// until the container exits.
func (r *Runtime) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	obj := fmt.Sprintf("container %q: logs", id)
	r.mu.Lock()
	if err := r.unavailable(); err != nil {
		r.mu.Unlock()
		return err
	}
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("%s: %w", obj, runtime.ErrNotFound)
	}
	first := true
	sent := 0 // entries of c.logs already considered
	for {
		now := r.clock.Now()
		c.settle(now)
		visible := 0
		for visible < len(c.logs) && !c.logs[visible].at.After(now) &&
			(c.finished.IsZero() || !c.logs[visible].at.After(c.finished)) {
			visible++
		}
		var batch []logEntry
		for _, e := range c.logs[sent:visible] {
			if opts.Since.IsZero() || !e.at.Before(opts.Since) {
				batch = append(batch, e)
			}
		}
		if first && opts.TailLines != nil {
			batch = batch[max(0, len(batch)-int(max(0, *opts.TailLines))):]
		}
		first, sent = false, visible
		done := !opts.Follow || !c.finished.IsZero() || c.removed
		// Wake for the next line, or the container's next event.
		wake := c.nextEvent()
		if visible < len(c.logs) && (wake.IsZero() || c.logs[visible].at.Before(wake)) {
			wake = c.logs[visible].at
		}
		changed := c.watch()
		r.mu.Unlock()

		for _, e := range batch {
			w := stdout
			if e.stream == Stderr {
				w = stderr
			}
			if w == nil {
				continue
			}
			line := e.text
			if opts.Timestamps {
				line = e.at.UTC().Format(time.RFC3339Nano) + " " + line
			}
			if _, err := io.WriteString(w, line); err != nil {
				return fmt.Errorf("%s: %w", obj, err)
			}
		}
		if done {
			return nil
		}
		if err := r.waitUntil(ctx, wake, changed); err != nil {
			return fmt.Errorf("%s: %w", obj, err)
		}
		r.mu.Lock()
	}
}

// Exec calls Options.Exec for a running container.
func (r *Runtime) Exec(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
	obj := fmt.Sprintf("container %q: exec %q", id, opts.Cmd)
	if err := opts.Validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", obj, err)
	}
	st, err := r.runningStatus(id, obj)
	if err != nil {
		return 0, err
	}
	if r.opts.Exec == nil {
		return 0, fmt.Errorf("%s: %w: the fake runtime runs no processes (set Options.Exec)", obj, errors.ErrUnsupported)
	}
	return r.opts.Exec(ctx, st, opts)
}

// Attach calls Options.Attach for a running container.
func (r *Runtime) Attach(ctx context.Context, id string, opts runtime.AttachOptions) error {
	obj := fmt.Sprintf("container %q: attach", id)
	st, err := r.runningStatus(id, obj)
	if err != nil {
		return err
	}
	if r.opts.Attach == nil {
		return fmt.Errorf("%s: %w: the fake runtime runs no processes (set Options.Attach)", obj, errors.ErrUnsupported)
	}
	return r.opts.Attach(ctx, st, opts)
}

// runningStatus returns the status of a running container, for Exec and
// Attach; obj names the call in errors.
func (r *Runtime) runningStatus(id, obj string) (runtime.ContainerStatus, error) {
	r.mu.Lock()
	if err := r.unavailable(); err != nil {
		r.mu.Unlock()
		return runtime.ContainerStatus{}, err
	}
	c, ok := r.containers[id]
	if !ok {
		r.mu.Unlock()
		return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", obj, runtime.ErrNotFound)
	}
	st := r.status(c)
	r.mu.Unlock()
	if st.State != runtime.ContainerRunning {
		return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", obj, runtime.ErrNotRunning)
	}
	return st, nil
}

// --- images --------------------------------------------------------------------

// normalize returns the full name of ref with its tag ("docker.io/library/
// busybox:latest") and the familiar one ("busybox:latest").
func normalize(ref string) (full, familiar string, err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w: %w", ref, runtime.ErrInvalidArgument, err)
	}
	named = reference.TagNameOnly(named)
	return named.String(), reference.FamiliarString(named), nil
}

// addImage makes ref present; r.mu held.
func (r *Runtime) addImage(ref string) error {
	full, familiar, err := normalize(ref)
	if err != nil {
		return err
	}
	if _, ok := r.images[full]; ok {
		return nil
	}
	sum := sha256.Sum256([]byte(full))
	r.images[full] = &image{id: "sha256:" + hex.EncodeToString(sum[:]), tags: []string{familiar}}
	return nil
}

// lookupImage finds a present image by reference or ID; r.mu held.
func (r *Runtime) lookupImage(ref string) (*image, error) {
	if strings.HasPrefix(ref, "sha256:") {
		for _, img := range r.images {
			if img.id == ref {
				return img, nil
			}
		}
		return nil, fmt.Errorf("image %q: %w", ref, runtime.ErrNotFound)
	}
	full, _, err := normalize(ref)
	if err != nil {
		return nil, err
	}
	img, ok := r.images[full]
	if !ok {
		return nil, fmt.Errorf("image %q: %w", ref, runtime.ErrNotFound)
	}
	return img, nil
}

func imageView(img *image) runtime.Image {
	return runtime.Image{ID: img.id, RepoTags: slices.Clone(img.tags), Size: 1 << 20}
}

// PullImage applies the pull policy against Options.Pull, taking PullLatency.
func (r *Runtime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.Image, error) {
	obj := fmt.Sprintf("image %q", ref)
	if err := opts.Validate(); err != nil {
		return runtime.Image{}, fmt.Errorf("%s: %w", obj, err)
	}
	full, _, err := normalize(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	r.mu.Lock()
	if err := r.unavailable(); err != nil {
		r.mu.Unlock()
		return runtime.Image{}, err
	}
	img, present := r.images[full]
	r.mu.Unlock()
	switch {
	case present && opts.Policy != runtime.PullAlways:
		return imageView(img), nil
	case !present && opts.Policy == runtime.PullNever:
		return runtime.Image{}, fmt.Errorf("%s: %w", obj, runtime.ErrImageNeverPull)
	}

	if err := r.wait(ctx, r.opts.PullLatency); err != nil {
		return runtime.Image{}, fmt.Errorf("%s: %w: %w", obj, runtime.ErrImagePull, err)
	}
	pull := r.opts.Pull
	if pull == nil {
		pull = defaultRegistry
	}
	if err := pull(ctx, ref, slices.Clone(opts.Auth)); err != nil {
		return runtime.Image{}, fmt.Errorf("%s: %w: %w", obj, runtime.ErrImagePull, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.addImage(ref); err != nil {
		return runtime.Image{}, err
	}
	return imageView(r.images[full]), nil
}

// defaultRegistry has every image except those of hosts under .invalid.
func defaultRegistry(_ context.Context, ref string, _ []runtime.AuthConfig) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return err
	}
	host := reference.Domain(named)
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	if host == "invalid" || strings.HasSuffix(host, ".invalid") {
		return fmt.Errorf("fake registry: dial tcp: lookup %s: no such host", host)
	}
	return nil
}

// ImageStatus reports a present image.
func (r *Runtime) ImageStatus(_ context.Context, ref string) (runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return runtime.Image{}, err
	}
	img, err := r.lookupImage(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	return imageView(img), nil
}

// ListImages lists present images by name.
func (r *Runtime) ListImages(context.Context) ([]runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return nil, err
	}
	out := make([]runtime.Image, 0, len(r.images))
	for _, k := range slices.Sorted(maps.Keys(r.images)) {
		out = append(out, imageView(r.images[k]))
	}
	return out, nil
}

// RemoveImage removes a present image that no container uses.
func (r *Runtime) RemoveImage(_ context.Context, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.unavailable(); err != nil {
		return err
	}
	img, err := r.lookupImage(ref)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	for _, c := range r.containers {
		if c.imageID == img.id {
			return fmt.Errorf("image %q: remove: in use by container %q", ref, c.id)
		}
	}
	for k, v := range r.images {
		if v == img {
			delete(r.images, k)
		}
	}
	return nil
}

// --- copies --------------------------------------------------------------------

func cloneSandboxConfig(c runtime.SandboxConfig) runtime.SandboxConfig {
	c.Labels = maps.Clone(c.Labels)
	c.Annotations = maps.Clone(c.Annotations)
	c.DNS.Servers = slices.Clone(c.DNS.Servers)
	c.DNS.Searches = slices.Clone(c.DNS.Searches)
	c.DNS.Options = slices.Clone(c.DNS.Options)
	c.PortMappings = slices.Clone(c.PortMappings)
	return c
}

func cloneContainerConfig(c runtime.ContainerConfig) runtime.ContainerConfig {
	c.Command = slices.Clone(c.Command)
	c.Args = slices.Clone(c.Args)
	c.Env = slices.Clone(c.Env)
	c.Mounts = slices.Clone(c.Mounts)
	c.Labels = maps.Clone(c.Labels)
	c.Annotations = maps.Clone(c.Annotations)
	return c
}
