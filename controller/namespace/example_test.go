package namespace_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/namespace"
)

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	dyn, _ := dynamic.NewForConfig(s.Config) // the controller deletes any kind of object
	m, _ := controller.NewManager(controller.ManagerOptions{Client: s.Client, Dynamic: dyn})
	_ = namespace.Register(m)
	fmt.Println(m.EnabledNames())
	// Output: [namespace]
}
