package overlay

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// Lease is a node's claim on a subnet, stored as JSON at
// <prefix>/subnets/<ip>-<len> with a TTL.
type Lease struct {
	// Subnet is the leased subnet.
	Subnet netip.Prefix
	// Attrs is what the node publishes to its peers.
	Attrs LeaseAttrs
	// Expiration is when the lease expires unless renewed, as estimated by
	// the writer's clock at the time of its last write. It is zero for the
	// leases of other nodes, whose clocks are not ours.
	Expiration time.Time
	// Revision is the store's ModRevision of the lease key.
	Revision int64
}

// LeaseAttrs is the value of a lease key, for example
//
//	{"PublicIP":"192.168.1.10","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"8e:..."}}
type LeaseAttrs struct {
	// PublicIP is the node's address on the underlay network. A node that
	// comes back with the same PublicIP gets its subnet back.
	PublicIP netip.Addr
	// BackendType is the type of the node's backend.
	BackendType string
	// BackendData is backend-specific (the VXLAN VNI and VTEP MAC address).
	BackendData json.RawMessage `json:",omitempty"`
}

func (a LeaseAttrs) marshal() ([]byte, error) { return json.Marshal(a) }

func parseAttrs(key string, data []byte) (LeaseAttrs, error) {
	var a LeaseAttrs
	if err := json.Unmarshal(data, &a); err != nil {
		return a, fmt.Errorf("lease %q: %w", key, err)
	}
	if !a.PublicIP.Is4() {
		return a, fmt.Errorf("lease %q: PublicIP %q is not an IPv4 address", key, a.PublicIP)
	}
	return a, nil
}

// Equal reports whether a and b publish the same thing.
func (a LeaseAttrs) Equal(b LeaseAttrs) bool {
	return a.PublicIP == b.PublicIP && a.BackendType == b.BackendType && jsonEqual(a.BackendData, b.BackendData)
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// String makes a lease readable in logs and test failures.
func (l *Lease) String() string {
	return fmt.Sprintf("%s -> %s (%s)", l.Subnet, l.Attrs.PublicIP, l.Attrs.BackendType)
}
