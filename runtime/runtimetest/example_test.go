package runtimetest_test

import (
	"testing"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/docker"
	"github.com/gantryhq/gantry/runtime/fake"
	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

// An implementation's tests run the suite with a fresh runtime per subtest,
// declaring the capabilities it lacks.
func ExampleRun() {
	_ = func(t *testing.T) {
		runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
			rt, err := fake.New(fake.Options{Images: []string{images.Busybox, images.Echo}})
			if err != nil {
				t.Fatal(err)
			}
			return rt
		},
			runtimetest.Lacks(runtimetest.Processes, "runs no programs"),
			runtimetest.Lacks(runtimetest.PodNetwork, "has no network"),
			runtimetest.Lacks(runtimetest.NetNSPath, "has no network namespaces"),
		)
	}
}

// Tests that need Docker find the daemon (skipping, or failing when CI is
// set, without one) and build the test images first.
func ExampleDockerClient() {
	_ = func(t *testing.T) {
		cli := runtimetest.DockerClient(t)
		runtimetest.EnsureImages(t.Context(), t, cli)
		runtimetest.Run(t, func(t *testing.T) runtime.Runtime {
			rt, err := docker.New(docker.Options{Client: cli})
			if err != nil {
				t.Fatal(err)
			}
			return rt
		})
	}
}
