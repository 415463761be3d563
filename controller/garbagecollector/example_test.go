package garbagecollector_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/garbagecollector"
)

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	dyn, _ := dynamic.NewForConfig(s.Config)
	gc, err := garbagecollector.New(garbagecollector.Options{Client: s.Client, Dynamic: dyn})
	fmt.Println(gc != nil, err) // gc.Start(ctx) runs it until ctx is done
	// Output: true <nil>
}
