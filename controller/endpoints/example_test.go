package endpoints_test

import (
	"context"
	"fmt"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/endpoints"
)

func ExampleRegister() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	m, _ := controller.NewManager(controller.ManagerOptions{Client: s.Client, Controllers: []string{"*", "-" + endpoints.EndpointsName}})
	_ = endpoints.Register(m) // NewEndpoints and NewEndpointSlices build them by hand
	fmt.Println(m.EnabledNames())
	// Output: [endpointslice]
}
