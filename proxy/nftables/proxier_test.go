package nftables

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/gantryhq/gantry/proxy"
	"github.com/gantryhq/gantry/proxy/proxytest"
)

func TestBehaviour(t *testing.T) {
	proxytest.Run(t, proxytest.Backend{
		New: func(t *testing.T, node *proxytest.Netns, clusterCIDR netip.Prefix) proxy.Proxier {
			var p *Proxier
			err := node.Do(func() error {
				var err error
				p, err = New(Options{ClusterCIDR: clusterCIDR})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return p
		},
		Dump: func(t *testing.T, node *proxytest.Netns) string { return Dump(t, node, DefaultTableName) },
	})
}

var expires = regexp.MustCompile(` expires [0-9dhms]+`)

// Dump returns `nft list table ip <table>` in node without the expiry
// times of affinity pins (which change by the second); "" when the table
// is absent.
func Dump(t testing.TB, node *proxytest.Netns, table string) string {
	t.Helper()
	out, err := node.Run(context.Background(), "nft", "list", "table", "ip", table)
	if err != nil {
		if strings.Contains(out, "No such file or directory") {
			return ""
		}
		t.Fatal(err)
	}
	return expires.ReplaceAllString(out, "")
}
