package proxy

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
)

// Proxier makes a node's data plane match the desired services.
//
// Sync is idempotent: calling it twice with the same State changes nothing
// the second time. Implementations remember what they programmed last and
// may apply only the difference, but they must converge to State even when
// the data plane was changed behind their back (a full resync is always
// allowed). Sync and Cleanup are not called concurrently; the Runner
// serialises them.
type Proxier interface {
	// Sync programs state. It blocks until the data plane matches it or an
	// error occurs; after an error the next Sync starts over from the
	// rules actually present.
	Sync(ctx context.Context, state *State) error
	// Cleanup removes everything the proxier ever added, including rules
	// left by an earlier process. It is safe to call when nothing is there.
	Cleanup(ctx context.Context) error
}

// ServicePortName identifies one port of a Service: the unit a proxier
// programs.
type ServicePortName struct {
	Namespace, Name string
	// Port is the port's name (empty for a Service with a single unnamed
	// port).
	Port     string
	Protocol v1.Protocol
}

// String is "ns/name:port/protocol", the form used in rule comments.
func (n ServicePortName) String() string {
	if n.Port == "" {
		return fmt.Sprintf("%s/%s/%s", n.Namespace, n.Name, n.Protocol)
	}
	return fmt.Sprintf("%s/%s:%s/%s", n.Namespace, n.Name, n.Port, n.Protocol)
}

func (n ServicePortName) compare(o ServicePortName) int {
	return cmp.Or(
		cmp.Compare(n.Namespace, o.Namespace),
		cmp.Compare(n.Name, o.Name),
		cmp.Compare(n.Port, o.Port),
		cmp.Compare(n.Protocol, o.Protocol),
	)
}

// Endpoint is one backend of a service port.
type Endpoint struct {
	Addr netip.Addr
	Port int32
	// NodeName is the node the endpoint runs on, when known.
	NodeName string
}

// AddrPort returns the endpoint's address and port.
func (e Endpoint) AddrPort() netip.AddrPort { return netip.AddrPortFrom(e.Addr, uint16(e.Port)) }

// ServicePort is the desired state of one service port.
type ServicePort struct {
	Name ServicePortName
	// ClusterIP is the virtual address; invalid for headless services,
	// which the proxy does not program.
	ClusterIP netip.Addr
	Port      int32
	// NodePort is the port opened on the node's addresses; 0 means none.
	NodePort int32
	// ExternalIPs also route to the service on Port.
	ExternalIPs []netip.Addr
	// AffinityTimeout pins a client address to one endpoint for this long
	// (sessionAffinity ClientIP); 0 means no affinity.
	AffinityTimeout time.Duration
	// Endpoints are the ready endpoints, sorted by address and port.
	Endpoints []Endpoint
}

// State is the desired data plane of a node: every service port to proxy.
// A State is immutable once passed to Sync.
type State struct {
	// Services are sorted by name.
	Services []*ServicePort
}

// Lookup returns the service port named n, or nil.
func (s *State) Lookup(n ServicePortName) *ServicePort {
	i, ok := slices.BinarySearchFunc(s.Services, n, func(sp *ServicePort, n ServicePortName) int {
		return sp.Name.compare(n)
	})
	if !ok {
		return nil
	}
	return s.Services[i]
}

// Equal reports whether a and b describe the same service port.
func (a *ServicePort) Equal(b *ServicePort) bool {
	return a.Name == b.Name && a.ClusterIP == b.ClusterIP && a.Port == b.Port &&
		a.NodePort == b.NodePort && a.AffinityTimeout == b.AffinityTimeout &&
		slices.Equal(a.ExternalIPs, b.ExternalIPs) && slices.Equal(a.Endpoints, b.Endpoints)
}

// NewState sorts services (and each one's endpoints and external IPs) and
// returns them as a State. It is how tests and other sources than the
// Runner build a State.
func NewState(services ...*ServicePort) *State {
	for _, sp := range services {
		slices.SortFunc(sp.Endpoints, func(a, b Endpoint) int {
			return cmp.Or(a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
		sp.Endpoints = slices.Compact(sp.Endpoints)
		slices.SortFunc(sp.ExternalIPs, netip.Addr.Compare)
	}
	slices.SortFunc(services, func(a, b *ServicePort) int { return a.Name.compare(b.Name) })
	return &State{Services: services}
}

// Diff reports the service ports of next that are new or changed since
// prev, and the names of those prev had and next has not. prev may be nil.
func Diff(prev, next *State) (changed []*ServicePort, removed []ServicePortName) {
	var old []*ServicePort
	if prev != nil {
		old = prev.Services
	}
	i, j := 0, 0
	for i < len(old) || j < len(next.Services) {
		switch {
		case j == len(next.Services) || (i < len(old) && old[i].Name.compare(next.Services[j].Name) < 0):
			removed = append(removed, old[i].Name)
			i++
		case i == len(old) || old[i].Name.compare(next.Services[j].Name) > 0:
			changed = append(changed, next.Services[j])
			j++
		default:
			if !old[i].Equal(next.Services[j]) {
				changed = append(changed, next.Services[j])
			}
			i++
			j++
		}
	}
	return changed, removed
}
