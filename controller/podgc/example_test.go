package podgc_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/informers"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/podgc"
)

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	f := informers.NewSharedInformerFactory(s.Client, 0)
	g, err := podgc.New(podgc.Options{Client: s.Client, Pods: f.Core().V1().Pods(), Nodes: f.Core().V1().Nodes()})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	fmt.Println(g.Collect(ctx)) // Start(ctx) does this every Period
	// Output: <nil>
}
