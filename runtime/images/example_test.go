package images_test

import (
	"context"
	"log"

	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime/images"
)

// Build the test images into the local Docker daemon before running pods
// that use them. (Not run as a test: it needs a Docker daemon.)
func ExampleBuild() {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	if err := images.Build(context.Background(), cli); err != nil {
		log.Fatal(err)
	}
	log.Println("ready:", images.Busybox, images.Pause, images.Echo)
}
