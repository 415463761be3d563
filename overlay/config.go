package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPrefix is where flannel keeps its state, and so does the overlay
// unless told otherwise: the network configuration at <prefix>/config and
// the subnet leases under <prefix>/subnets/.
const DefaultPrefix = "/coreos.com/network"

// Backend types.
const (
	TypeVXLAN  = "vxlan"
	TypeHostGW = "host-gw"
)

// ErrInvalidConfig is wrapped by the errors of a malformed network
// configuration.
var ErrInvalidConfig = errors.New("invalid network configuration")

// Config is the cluster's network configuration, stored as JSON at
// <prefix>/config, for example
//
//	{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}
//
// Only IPv4 is supported.
type Config struct {
	// Network is the cluster's pod network; every node leases a subnet of it.
	Network netip.Prefix
	// SubnetLen is the prefix length of a node's subnet; 24 by default (or
	// Network's length plus 2 when that is more than 22).
	SubnetLen int `json:",omitempty"`
	// SubnetMin and SubnetMax bound the subnets handed out (their first
	// addresses). By default the first subnet of Network (which holds the
	// network address) is skipped and every other one is used.
	SubnetMin netip.Addr `json:",omitzero"`
	SubnetMax netip.Addr `json:",omitzero"`
	// Backend selects and configures the data plane.
	Backend BackendConfig
}

// BackendConfig is the "Backend" object of the network configuration. Type
// selects the backend; the other fields apply to some backends only, and a
// backend's own options take precedence over them.
type BackendConfig struct {
	// Type is TypeVXLAN (the default) or TypeHostGW.
	Type string
	// VNI is the VXLAN network identifier (vxlan; default 1).
	VNI int `json:",omitempty"`
	// Port is the VXLAN UDP port (vxlan; default 8472, the Linux default).
	Port int `json:",omitempty"`
	// DirectRouting makes the vxlan backend route directly to peers on the
	// same L2 segment and encapsulate only for the others.
	DirectRouting bool `json:",omitempty"`
	// MTU overrides the MTU of the pod network (vxlan: the underlay's MTU
	// minus 50 by default).
	MTU int `json:",omitempty"`
}

// ParseConfig decodes a network configuration and fills in its defaults.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if err := c.complete(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Marshal encodes the configuration as stored.
func (c *Config) Marshal() ([]byte, error) { return json.Marshal(c) }

// complete validates c and sets its defaults.
func (c *Config) complete() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !c.Network.IsValid() {
		return bad("Network is missing")
	}
	if !c.Network.Addr().Is4() {
		return bad("Network %s is not IPv4", c.Network)
	}
	c.Network = c.Network.Masked()
	if c.SubnetLen == 0 {
		c.SubnetLen = 24
		if c.Network.Bits() > 22 {
			c.SubnetLen = c.Network.Bits() + 2
		}
	}
	if c.SubnetLen <= c.Network.Bits() || c.SubnetLen > 30 {
		return bad("SubnetLen %d must be longer than Network's /%d and at most 30", c.SubnetLen, c.Network.Bits())
	}
	size := uint32(1) << (32 - c.SubnetLen)
	first := addrToU32(c.Network.Addr())
	last := first + (uint32(1)<<(32-c.Network.Bits()) - size)
	if !c.SubnetMin.IsValid() {
		c.SubnetMin = u32ToAddr(first + size)
	}
	if !c.SubnetMax.IsValid() {
		c.SubnetMax = u32ToAddr(last)
	}
	for _, b := range []struct {
		name string
		a    netip.Addr
	}{{"SubnetMin", c.SubnetMin}, {"SubnetMax", c.SubnetMax}} {
		if !c.Network.Contains(b.a) || (addrToU32(b.a)-first)%size != 0 {
			return bad("%s %s is not the start of a /%d in %s", b.name, b.a, c.SubnetLen, c.Network)
		}
	}
	if addrToU32(c.SubnetMin) > addrToU32(c.SubnetMax) {
		return bad("SubnetMin %s is above SubnetMax %s", c.SubnetMin, c.SubnetMax)
	}
	if c.Backend.Type == "" {
		c.Backend.Type = TypeVXLAN
	}
	switch c.Backend.Type {
	case TypeVXLAN, TypeHostGW:
	default:
		return bad("unknown backend type %q", c.Backend.Type)
	}
	if c.Backend.VNI < 0 || c.Backend.VNI >= 1<<24 {
		return bad("VNI %d out of range", c.Backend.VNI)
	}
	if c.Backend.Port < 0 || c.Backend.Port > 65535 {
		return bad("Port %d out of range", c.Backend.Port)
	}
	if c.Backend.MTU < 0 {
		return bad("negative MTU %d", c.Backend.MTU)
	}
	return nil
}

// Subnets returns the subnets that can be leased, in address order.
func (c *Config) Subnets() []netip.Prefix {
	size := uint32(1) << (32 - c.SubnetLen)
	var out []netip.Prefix
	for a := addrToU32(c.SubnetMin); a <= addrToU32(c.SubnetMax); a += size {
		out = append(out, netip.PrefixFrom(u32ToAddr(a), c.SubnetLen))
		if a+size < a { // wrapped around at 255.255.255.255
			break
		}
	}
	return out
}

// contains reports whether s is one of the subnets c hands out.
func (c *Config) contains(s netip.Prefix) bool {
	if s.Bits() != c.SubnetLen || !s.Addr().Is4() || s.Masked() != s {
		return false
	}
	a := addrToU32(s.Addr())
	return a >= addrToU32(c.SubnetMin) && a <= addrToU32(c.SubnetMax)
}

func addrToU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func u32ToAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// SubnetKeyName is the name of a subnet's lease key: 10.244.3.0-24 for
// 10.244.3.0/24.
func SubnetKeyName(s netip.Prefix) string {
	return s.Addr().String() + "-" + strconv.Itoa(s.Bits())
}

// ParseSubnetKeyName is the inverse of SubnetKeyName.
func ParseSubnetKeyName(name string) (netip.Prefix, error) {
	ip, bits, ok := strings.Cut(name, "-")
	if !ok {
		return netip.Prefix{}, fmt.Errorf("subnet key %q: not <ip>-<len>", name)
	}
	p, err := netip.ParsePrefix(ip + "/" + bits)
	if err != nil || p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("subnet key %q: not a subnet", name)
	}
	return p, nil
}
