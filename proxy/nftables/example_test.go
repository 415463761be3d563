package nftables_test

import (
	"context"
	"log"
	"net/netip"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/nftables"
)

// A node's service proxy: the proxier owns the table "ip gantry" of the
// calling thread's network namespace (needs CAP_NET_ADMIN).
func ExampleNew() {
	p, err := nftables.New(nftables.Options{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	state := proxy.NewState(&proxy.ServicePort{
		Name:      proxy.ServicePortName{Namespace: "default", Name: "web", Protocol: "TCP"},
		ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 80, NodePort: 30080,
		Endpoints: []proxy.Endpoint{{Addr: netip.MustParseAddr("10.244.1.5"), Port: 8080}},
	})
	if err := p.Sync(ctx, state); err != nil { // one netlink transaction
		log.Fatal(err)
	}
	log.Printf("%d rules and elements in table ip %s", p.RuleCount(), p.TableName())
	if err := p.Cleanup(ctx); err != nil { // deletes the table
		log.Fatal(err)
	}
}
