package nodelifecycle_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/informers"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/nodelifecycle"
)

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	f := informers.NewSharedInformerFactory(s.Client, 0)
	c, err := nodelifecycle.New(nodelifecycle.Options{
		Client: s.Client, Nodes: f.Core().V1().Nodes(), Leases: f.Coordination().V1().Leases(), Pods: f.Core().V1().Pods(),
		Clock: clocktesting.NewFakeClock(time.Now()), // step it and call Monitor in tests; Start ticks it otherwise
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	fmt.Println(c.Monitor(ctx), len(c.ZoneStates()))
	// Output: <nil> 0
}
