package overlay_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"

	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/overlay/vxlan"
	"github.com/gantryhq/gantry/store/memory"
)

// Leasing subnets for three nodes; a node that comes back gets its subnet
// again.
func ExampleSubnetManager() {
	ctx := context.Background()
	s := memory.New(memory.Options{})
	defer s.Close()
	sm, _ := overlay.NewSubnetManager(overlay.SubnetManagerOptions{Store: s})
	cfg, _ := overlay.ParseConfig([]byte(`{"Network":"10.244.0.0/22","SubnetLen":24,"Backend":{"Type":"host-gw"}}`))
	_ = sm.SetConfig(ctx, cfg)

	for _, ip := range []string{"192.168.0.1", "192.168.0.2", "192.168.0.3", "192.168.0.1", "192.168.0.4"} {
		attrs := overlay.LeaseAttrs{PublicIP: netip.MustParseAddr(ip), BackendType: overlay.TypeHostGW}
		lease, err := sm.Acquire(ctx, cfg, attrs, overlay.AcquireOptions{})
		switch {
		case errors.Is(err, overlay.ErrNoFreeSubnet):
			fmt.Println(ip, "-> no free subnet")
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(ip, "->", lease.Subnet, "at", sm.LeaseKey(lease.Subnet))
		}
	}
	// Output:
	// 192.168.0.1 -> 10.244.1.0/24 at /coreos.com/network/subnets/10.244.1.0-24
	// 192.168.0.2 -> 10.244.2.0/24 at /coreos.com/network/subnets/10.244.2.0-24
	// 192.168.0.3 -> 10.244.3.0/24 at /coreos.com/network/subnets/10.244.3.0-24
	// 192.168.0.1 -> 10.244.1.0/24 at /coreos.com/network/subnets/10.244.1.0-24
	// 192.168.0.4 -> no free subnet
}

// Running the overlay on a node: lease a subnet, bring up VXLAN to the
// peers, write /run/gantry/subnet.env and follow the other nodes until
// interrupted. The store is shared by all nodes (store/etcd in a cluster).
func ExampleAgent() {
	s := memory.New(memory.Options{})
	defer s.Close()
	be, err := vxlan.New(vxlan.Options{Interface: "eth0"})
	if err != nil {
		log.Fatal(err)
	}
	agent, err := overlay.New(overlay.Options{Store: s, Backend: be, IPMasq: true})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-agent.Ready()
		log.Printf("pods get addresses from %s (MTU %d)", agent.Subnet(), agent.MTU())
	}()
	if err := agent.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

func ExampleParseConfig() {
	cfg, err := overlay.ParseConfig([]byte(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Network, cfg.SubnetLen, cfg.SubnetMin, cfg.SubnetMax, cfg.Backend.Type, cfg.Backend.DirectRouting)
	// Output: 10.244.0.0/16 24 10.244.1.0 10.244.255.0 vxlan true
}

func ExampleWriteSubnetEnv() {
	env := overlay.SubnetEnv{
		Network: netip.MustParsePrefix("10.244.0.0/16"),
		Subnet:  overlay.BridgeAddr(netip.MustParsePrefix("10.244.3.0/24")),
		MTU:     1450,
		IPMasq:  true,
	}
	os.Stdout.Write(env.Marshal())
	// Output:
	// FLANNEL_NETWORK=10.244.0.0/16
	// FLANNEL_SUBNET=10.244.3.1/24
	// FLANNEL_MTU=1450
	// FLANNEL_IPMASQ=true
}

// A node agent takes an Overlay and waits for it before it starts pods; a
// test gives it a Static one.
func ExampleStatic() {
	var ov overlay.Overlay = &overlay.Static{PodSubnet: netip.MustParsePrefix("10.244.7.0/24")}
	<-ov.Ready()
	fmt.Println(ov.Subnet(), overlay.BridgeAddr(ov.Subnet()), ov.MTU())
	// Output: 10.244.7.0/24 10.244.7.1/24 1500
}
