package nftables

import (
	"context"
	"net/netip"
	"regexp"
	"slices"
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

var (
	expires  = regexp.MustCompile(` expires [0-9dhms]+`)
	elements = regexp.MustCompile(`(?s)elements = \{([^}]*)\}`)
)

// Dump returns `nft list table ip <table>` in node, normalised: elements
// sorted (the kernel lists a hash set in an order of its own) and without
// the expiry times of affinity pins (which change by the second); "" when
// the table is absent.
func Dump(t testing.TB, node *proxytest.Netns, table string) string {
	t.Helper()
	out, err := node.Run(context.Background(), "nft", "list", "table", "ip", table)
	if err != nil {
		if strings.Contains(out, "No such file or directory") {
			return ""
		}
		t.Fatal(err)
	}
	out = expires.ReplaceAllString(out, "")
	return elements.ReplaceAllStringFunc(out, func(m string) string {
		body := elements.FindStringSubmatch(m)[1]
		var els []string
		for _, e := range strings.Split(body, ",") {
			els = append(els, strings.TrimSpace(e))
		}
		slices.Sort(els)
		return "elements = {\n\t\t\t" + strings.Join(els, ",\n\t\t\t") + " }"
	})
}
