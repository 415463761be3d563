package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gantryhq/gantry/scheduler/plugins"
	"github.com/gantryhq/gantry/scheduler/sim"
)

// Replay a synthetic trace against the default profile.
func ExampleRun() {
	tr := sim.Generate(42, sim.GenerateOptions{Jobs: 50, MeanDuration: 10 * time.Second})
	res, err := sim.Run(context.Background(), sim.Config{Cluster: sim.UniformCluster(4, 4000, 16384, 110), Trace: tr, Seed: 42},
		sim.Candidate{Name: "default", Registry: plugins.NewRegistry(), Profile: plugins.DefaultProfile("")})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Scheduled, res.Unschedulable)
	// Output: 50 0
}
