package nodeagent

import (
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/internal/restconfig"
)

// The node agent's client-side rate limit when its configuration sets
// none: the kubelet's kubeAPIQPS and kubeAPIBurst defaults. client-go's own
// (5 and 10) would make a node starting 30 pods wait on its status and
// event writes.
const (
	DefaultClientQPS   = 50
	DefaultClientBurst = 100
)

// ClientConfig returns a copy of cfg for a node agent's client: user agent
// gantry-node unless cfg names one, DefaultClientQPS and DefaultClientBurst
// unless cfg sets a rate (QPS -1: no limit).
func ClientConfig(cfg *rest.Config) *rest.Config {
	return restconfig.WithDefaults(cfg, "gantry-node", DefaultClientQPS, DefaultClientBurst)
}
