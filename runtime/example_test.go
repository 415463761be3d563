package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// How a node agent runs a pod and tears it down, on any Runtime (here the
// fake one).
func Example() {
	ctx := context.Background()
	var rt runtime.Runtime
	rt, _ = fake.New(fake.Options{Images: []string{"gantry.local/echo:1.0"}})

	// Images first, with the pod's pull policy.
	if _, err := rt.PullImage(ctx, "gantry.local/echo:1.0", runtime.PullOptions{Policy: runtime.PullIfNotPresent}); err != nil {
		fmt.Println("ErrImagePull:", err)
		return
	}
	sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{
		Name: "web-1", Namespace: "default", UID: "7d0c1f4e", Hostname: "web-1",
		Network: runtime.NetworkConfig{Bridge: "cbr0", Subnet: mustPrefix("10.244.1.0/24")},
	})
	if err != nil {
		panic(err)
	}
	id, err := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{
		Name: "echo", Image: "gantry.local/echo:1.0",
		Env:       []runtime.EnvVar{{Name: "PORT", Value: "8080"}},
		Resources: runtime.Resources{CPUShares: 102, MemoryLimit: 64 << 20},
	})
	if err != nil {
		panic(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		panic(err)
	}
	sst, _ := rt.SandboxStatus(ctx, sb)
	cst, _ := rt.ContainerStatus(ctx, id)
	fmt.Println(sst.IP, cst.Name, cst.State, cst.Labels[runtime.LabelPodUID])

	// Teardown: containers with the grace period, then the sandbox.
	_ = rt.StopContainer(ctx, id, 30*time.Second)
	_ = rt.StopSandbox(ctx, sb)
	_ = rt.RemoveSandbox(ctx, sb)
	_, err = rt.ContainerStatus(ctx, id)
	fmt.Println(errors.Is(err, runtime.ErrNotFound))
	// Output:
	// 10.244.1.2 echo running 7d0c1f4e
	// true
}

// A pull policy Never on an absent image, and a pull from an unreachable
// registry, are the errors a node agent shows as ErrImageNeverPull and
// ErrImagePull.
func ExampleImageManager_PullImage() {
	ctx := context.Background()
	rt, _ := fake.New(fake.Options{})
	_, err := rt.PullImage(ctx, "gantry.local/absent:1", runtime.PullOptions{Policy: runtime.PullNever})
	fmt.Println(errors.Is(err, runtime.ErrImageNeverPull))
	_, err = rt.PullImage(ctx, "gantry.invalid/app:1", runtime.PullOptions{Policy: runtime.PullIfNotPresent})
	fmt.Println(errors.Is(err, runtime.ErrImagePull))
	// Output:
	// true
	// true
}

func ExampleDefaultPullPolicy() {
	fmt.Println(runtime.DefaultPullPolicy("busybox"))
	fmt.Println(runtime.DefaultPullPolicy("gantry.local/busybox:1.0"))
	// Output:
	// Always
	// IfNotPresent
}

func ExampleMatchLabels() {
	labels := runtime.SandboxLabels(runtime.SandboxConfig{Name: "web-1", Namespace: "default", UID: "u1"})
	fmt.Println(runtime.MatchLabels(labels, map[string]string{runtime.LabelPodUID: "u1"}))
	fmt.Println(runtime.MatchLabels(labels, map[string]string{runtime.LabelPodUID: "u2"}))
	// Output:
	// true
	// false
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
