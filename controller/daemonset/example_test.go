package daemonset_test

import (
	"context"
	"fmt"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/daemonset"
)

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	m, _ := controller.NewManager(controller.ManagerOptions{Client: s.Client})
	_ = daemonset.Register(m) // daemonset.New builds the controller from informers by hand
	fmt.Println(m.EnabledNames())
	// Output: [daemonset]
}
