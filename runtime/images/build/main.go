package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	defer cli.Close()
	if err := images.Build(ctx, cli); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	for _, ref := range images.All {
		fmt.Println(ref)
	}
}
