package docker_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/docker"
	"github.com/gantryhq/gantry/runtime/images"
)

// A pod on the node's pod subnet: the runtime creates the bridge network
// cbr0 with 10.244.1.0/24 on first use, and the pod gets its IP from it.
// (Not run as a test: it needs a Docker daemon; build the images first with
// images.Build.)
func ExampleNew() {
	ctx := context.Background()
	rt, err := docker.New(docker.Options{NodeName: "node-1"})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	if err := rt.Health(ctx); err != nil {
		log.Fatal(err) // wraps runtime.ErrUnavailable
	}

	sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{
		Name: "web-1", Namespace: "default", UID: "7d0c1f4e", Hostname: "web-1",
		Network:      runtime.NetworkConfig{Bridge: "cbr0", Subnet: netip.MustParsePrefix("10.244.1.0/24")},
		PortMappings: []runtime.PortMapping{{ContainerPort: 8080, HostPort: 30080}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.RemoveSandbox(ctx, sb)
	id, err := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "echo", Image: images.Echo})
	if err != nil {
		log.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		log.Fatal(err)
	}
	st, err := rt.SandboxStatus(ctx, sb)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pod IP:", st.IP)
}
