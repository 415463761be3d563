package vxlan_test

import (
	"log"
	"net/netip"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/vxlan"
	"github.com/gantryhq/gantry/store/memory"
)

// A VXLAN backend in hybrid mode for the node in namespace "node1": peers on
// eth0's segment are routed to directly, the others tunnelled on VNI 42.
func ExampleNew() {
	be, err := vxlan.New(vxlan.Options{
		Namespace:     "/var/run/netns/node1",
		Interface:     "eth0",
		PublicIP:      netip.MustParseAddr("192.168.1.10"),
		VNI:           42,
		Port:          4789,
		DirectRouting: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	s := memory.New(memory.Options{})
	defer s.Close()
	agent, err := overlay.New(overlay.Options{Store: s, Backend: be, Namespace: "/var/run/netns/node1"})
	if err != nil {
		log.Fatal(err)
	}
	_ = agent // agent.Run(ctx) blocks until ctx is done
}
