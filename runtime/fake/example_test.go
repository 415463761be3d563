package fake_test

import (
	"context"
	"fmt"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// A fake runtime on a fake clock: a container that exits by itself after a
// minute of (simulated) time.
func ExampleNew() {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	rt, err := fake.New(fake.Options{
		Clock:  clk,
		Images: []string{"gantry.local/busybox:1.0"},
		Behavior: func(_ runtime.Sandbox, c runtime.ContainerConfig) fake.Behavior {
			if c.Name == "job" {
				return fake.Behavior{ExitAfter: time.Minute, ExitCode: 0}
			}
			return fake.Behavior{}
		},
	})
	if err != nil {
		panic(err)
	}
	sb, _ := rt.RunSandbox(ctx, runtime.SandboxConfig{Name: "batch", Namespace: "default", UID: "uid-1"})
	id, _ := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "job", Image: "gantry.local/busybox:1.0"})
	_ = rt.StartContainer(ctx, id)

	st, _ := rt.ContainerStatus(ctx, id)
	fmt.Println(st.State)
	clk.Step(time.Minute)
	st, _ = rt.ContainerStatus(ctx, id)
	fmt.Println(st.State, st.ExitCode, st.Reason, st.FinishedAt.Sub(st.StartedAt))

	sbst, _ := rt.SandboxStatus(ctx, sb)
	fmt.Println(sbst.IP)
	// Output:
	// running
	// exited 0 Completed 1m0s
	// 10.88.0.2
}
