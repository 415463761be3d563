package hostgw_test

import (
	"log"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/hostgw"
	"github.com/gantryhq/gantry/store/memory"
)

// A host-gw backend for a node whose nodes all share eth0's segment.
func ExampleNew() {
	be, err := hostgw.New(hostgw.Options{Interface: "eth0"})
	if err != nil {
		log.Fatal(err)
	}
	s := memory.New(memory.Options{})
	defer s.Close()
	agent, err := overlay.New(overlay.Options{Store: s, Backend: be})
	if err != nil {
		log.Fatal(err)
	}
	_ = agent // agent.Run(ctx) blocks until ctx is done
}
