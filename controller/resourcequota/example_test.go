package resourcequota_test

import (
	"context"
	"fmt"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/resourcequota"
)

func ExampleRegister() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	m, _ := controller.NewManager(controller.ManagerOptions{Client: s.Client})
	_ = resourcequota.Register(m)
	fmt.Println(m.EnabledNames())
	// Output: [resourcequota]
}
