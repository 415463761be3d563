package runtimetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/images"
)

// Capability is something a runtime may lack; the tests that need it are
// skipped, saying so, for runtimes run with Lacks.
type Capability string

// Capabilities the suite knows.
const (
	// Processes: containers run the programs of their images (busybox sh,
	// the echo server) with real output, exit codes, signals and exec.
	Processes Capability = "processes"
	// PodNetwork: the containers of a sandbox share a working network
	// namespace (one reaches another over 127.0.0.1).
	PodNetwork Capability = "pod-network"
	// NetNSPath: SandboxStatus.NetNS names a ready sandbox's network
	// namespace on the node (one the test process can enter as root).
	// Runtimes that lack it must leave NetNS empty.
	NetNSPath Capability = "netns-path"
)

// Option adjusts Run.
type Option func(*config)

type config struct {
	lacks          map[Capability]string
	network        func(t *testing.T) runtime.NetworkConfig
	removableImage func(t *testing.T, rt runtime.Runtime) string
}

// Lacks declares that the runtime lacks capability c, for reason: the tests
// that need c are skipped with a message naming both.
func Lacks(c Capability, reason string) Option {
	return func(cfg *config) { cfg.lacks[c] = reason }
}

// Network gives the bridge network and pod subnet sandboxes of the network
// tests use; it should register the network's removal with t.Cleanup when
// the runtime leaves networks behind. Default: a random name and a random
// /24 of 10.128.0.0/9, left in place.
func Network(f func(t *testing.T) runtime.NetworkConfig) Option {
	return func(cfg *config) { cfg.network = f }
}

// RemovableImage makes an image present in rt that the suite may remove
// (for example a fresh tag of Busybox), returns its reference, and cleans it
// up. Without it the test of removing a present image is skipped.
func RemovableImage(f func(t *testing.T, rt runtime.Runtime) string) Option {
	return func(cfg *config) { cfg.removableImage = f }
}

// Images the suite runs; they must be present in the runtime (for Docker:
// EnsureImages). Tests pull them with policy IfNotPresent, never from a
// registry.
const (
	Busybox = images.Busybox
	Echo    = images.Echo
)

// Timeouts of the suite: bounds on waits for things that happen promptly; a
// passing runtime never comes near them.
const (
	// opTimeout bounds one test's runtime calls.
	opTimeout = 2 * time.Minute
	// waitTimeout bounds polling for a state.
	waitTimeout = 30 * time.Second
	// pullTimeout bounds a pull from an unreachable registry.
	pullTimeout = 20 * time.Second
)

// Run runs the conformance suite as parallel subtests of t. newRuntime is
// called once per subtest and returns the runtime under test; runtimes may
// share a daemon, since every subtest names its pods uniquely and removes
// what it created, also on failure.
func Run(t *testing.T, newRuntime func(t *testing.T) runtime.Runtime, opts ...Option) {
	t.Helper()
	cfg := &config{lacks: map[Capability]string{}}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.network == nil {
		cfg.network = randomNetwork
	}
	for _, tc := range []struct {
		name  string
		needs []Capability
		test  func(*harness)
	}{
		{"Health", nil, testHealth},
		{"SandboxLifecycle", nil, testSandboxLifecycle},
		{"SandboxInvalid", nil, testSandboxInvalid},
		{"SandboxBridgeNetwork", nil, testSandboxBridge},
		{"SandboxHostNetwork", nil, testSandboxHostNetwork},
		{"SandboxNetNS", nil, testSandboxNetNS},
		{"ContainerLifecycle", nil, testContainerLifecycle},
		{"ContainerAttempts", nil, testContainerAttempts},
		{"ContainerInvalid", nil, testContainerInvalid},
		{"Labels", nil, testLabels},
		{"Resources", nil, testResources},
		{"RemoveCleansUp", nil, testRemoveCleansUp},
		{"ParallelPods", nil, testParallelPods},
		{"PullPolicies", nil, testPullPolicies},
		{"ImageListStatusRemove", nil, testImages},
		{"ExitCodesAndLogs", []Capability{Processes}, testExitAndLogs},
		{"LogsTailSinceTimestamps", []Capability{Processes}, testLogOptions},
		{"LogsFollow", []Capability{Processes}, testLogsFollow},
		{"Exec", []Capability{Processes}, testExec},
		{"Attach", []Capability{Processes}, testAttach},
		{"StartError", []Capability{Processes}, testStartError},
		{"StopGraceSIGTERMTrapped", []Capability{Processes}, testStopTrapped},
		{"StopGraceSIGTERMIgnored", []Capability{Processes}, testStopIgnored},
		{"Localhost", []Capability{Processes, PodNetwork}, testLocalhost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range tc.needs {
				if reason, ok := cfg.lacks[c]; ok {
					t.Skipf("runtime lacks capability %q (%s)", c, reason)
				}
			}
			rt := newRuntime(t)
			require.NotNil(t, rt, "newRuntime returned nil")
			ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
			defer cancel()
			tc.test(&harness{t: t, rt: rt, ctx: ctx, cfg: cfg, id: uniqueID(t)})
		})
	}
}

// harness is one subtest's runtime and helpers.
type harness struct {
	t   *testing.T
	rt  runtime.Runtime
	ctx context.Context
	cfg *config
	id  string // unique per subtest, usable in names
	n   int
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueID returns a short name unique to this subtest and process.
func uniqueID(t *testing.T) string {
	name := t.Name()
	name = name[strings.LastIndex(name, "/")+1:]
	name = strings.Trim(nonName.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(name) > 16 {
		name = name[:16]
	}
	return name + "-" + strings.ToLower(rand.Text()[:8])
}

// randomNetwork picks a bridge name and a random /24 of 10.128.0.0/9.
func randomNetwork(*testing.T) runtime.NetworkConfig {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<15))
	v := n.Int64()
	return runtime.NetworkConfig{
		Bridge: "gt" + strings.ToLower(rand.Text()[:8]),
		Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + v>>8), byte(v), 0}), 24),
	}
}

// podConfig returns a sandbox config for a new pod of this subtest.
func (h *harness) podConfig() runtime.SandboxConfig {
	h.n++
	name := fmt.Sprintf("%s-%d", h.id, h.n)
	return runtime.SandboxConfig{
		Name:        name,
		Namespace:   "rtt",
		UID:         "uid-" + name,
		Hostname:    "h-" + h.id,
		Labels:      map[string]string{"runtimetest/test": h.id},
		Annotations: map[string]string{"runtimetest/annotation": "a-" + name},
	}
}

// runSandbox runs a sandbox and removes it when the test ends.
func (h *harness) runSandbox(cfg runtime.SandboxConfig) string {
	h.t.Helper()
	id, err := h.rt.RunSandbox(h.ctx, cfg)
	require.NoError(h.t, err, "RunSandbox")
	require.NotEmpty(h.t, id)
	h.t.Cleanup(func() { h.removeSandbox(id) })
	return id
}

func (h *harness) removeSandbox(id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), time.Minute)
	defer cancel()
	if err := h.rt.RemoveSandbox(ctx, id); err != nil {
		h.t.Errorf("cleanup: RemoveSandbox(%s): %v", id, err)
	}
}

// pod runs a sandbox with the default network.
func (h *harness) pod() (string, runtime.SandboxConfig) {
	h.t.Helper()
	cfg := h.podConfig()
	return h.runSandbox(cfg), cfg
}

// sleeper is a container config of a busybox that sleeps.
func sleeper(name string) runtime.ContainerConfig {
	return runtime.ContainerConfig{Name: name, Image: Busybox, Command: []string{"sleep", "3600"}}
}

// shell is a container config of a busybox running script.
func shell(name, script string) runtime.ContainerConfig {
	return runtime.ContainerConfig{Name: name, Image: Busybox, Command: []string{"sh", "-c", script}}
}

// create creates a container; the sandbox's removal removes it.
func (h *harness) create(sandboxID string, cfg runtime.ContainerConfig) string {
	h.t.Helper()
	id, err := h.rt.CreateContainer(h.ctx, sandboxID, cfg)
	require.NoError(h.t, err, "CreateContainer %s", cfg.Name)
	require.NotEmpty(h.t, id)
	return id
}

// start creates and starts a container.
func (h *harness) start(sandboxID string, cfg runtime.ContainerConfig) string {
	h.t.Helper()
	id := h.create(sandboxID, cfg)
	require.NoError(h.t, h.rt.StartContainer(h.ctx, id), "StartContainer %s", cfg.Name)
	return id
}

// status returns a container's status.
func (h *harness) status(id string) runtime.ContainerStatus {
	h.t.Helper()
	st, err := h.rt.ContainerStatus(h.ctx, id)
	require.NoError(h.t, err, "ContainerStatus")
	return st
}

// waitState polls a container until it is in state, and returns its status.
func (h *harness) waitState(id string, state runtime.ContainerState) runtime.ContainerStatus {
	h.t.Helper()
	var st runtime.ContainerStatus
	h.eventually(func() (bool, string) {
		st = h.status(id)
		return st.State == state, fmt.Sprintf("container %s is %s, want %s", id, st.State, state)
	})
	return st
}

// eventually polls cond until it holds or waitTimeout passes.
func (h *harness) eventually(cond func() (bool, string)) {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after %v: %s", waitTimeout, msg)
		}
		select {
		case <-tick.C:
		case <-h.ctx.Done():
			h.t.Fatalf("%v: %s", h.ctx.Err(), msg)
		}
	}
}

// pullLocal makes sure a test image is present, without a registry.
func (h *harness) pullLocal(ref string) {
	h.t.Helper()
	_, err := h.rt.PullImage(h.ctx, ref, runtime.PullOptions{Policy: runtime.PullIfNotPresent})
	require.NoError(h.t, err, "test image %s must be present (build it with images.Build)", ref)
}
