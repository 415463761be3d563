package overlay

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultSubnetFile is where the agent writes the node's subnet.env unless
// told otherwise.
const DefaultSubnetFile = "/run/gantry/subnet.env"

// SubnetEnv is the content of a subnet.env file, the flannel convention for
// telling a container runtime which addresses its pods get:
//
//	FLANNEL_NETWORK=10.244.0.0/16
//	FLANNEL_SUBNET=10.244.3.1/24
//	FLANNEL_MTU=1450
//	FLANNEL_IPMASQ=true
type SubnetEnv struct {
	// Network is the cluster's pod network.
	Network netip.Prefix
	// Subnet is the node's subnet with the bridge's address (its first
	// address) as the address part, as flannel writes it.
	Subnet netip.Prefix
	// MTU is the MTU pod interfaces must use.
	MTU int
	// IPMasq says whether the agent masquerades traffic leaving the network.
	IPMasq bool
}

// Marshal returns the file's content.
func (e SubnetEnv) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "FLANNEL_NETWORK=%s\n", e.Network)
	fmt.Fprintf(&b, "FLANNEL_SUBNET=%s\n", e.Subnet)
	fmt.Fprintf(&b, "FLANNEL_MTU=%d\n", e.MTU)
	fmt.Fprintf(&b, "FLANNEL_IPMASQ=%t\n", e.IPMasq)
	return b.Bytes()
}

// ParseSubnetEnv parses the content of a subnet.env file. Unknown variables,
// blank lines and comments are ignored.
func ParseSubnetEnv(data []byte) (SubnetEnv, error) {
	var e SubnetEnv
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return e, fmt.Errorf("subnet.env line %d: no '='", n)
		}
		var err error
		switch k {
		case "FLANNEL_NETWORK":
			e.Network, err = netip.ParsePrefix(v)
		case "FLANNEL_SUBNET":
			e.Subnet, err = netip.ParsePrefix(v)
		case "FLANNEL_MTU":
			e.MTU, err = strconv.Atoi(v)
		case "FLANNEL_IPMASQ":
			e.IPMasq, err = strconv.ParseBool(v)
		}
		if err != nil {
			return e, fmt.Errorf("subnet.env line %d: %s: %w", n, k, err)
		}
	}
	return e, sc.Err()
}

// WriteSubnetEnv writes e to path atomically (a temporary file renamed
// over it), creating the directory if needed.
func WriteSubnetEnv(path string, e SubnetEnv) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("subnet.env %q: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("subnet.env %q: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(e.Marshal()); err != nil {
		tmp.Close()
		return fmt.Errorf("subnet.env %q: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("subnet.env %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("subnet.env %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("subnet.env %q: %w", path, err)
	}
	return nil
}

// ReadSubnetEnv reads and parses the subnet.env file at path.
func ReadSubnetEnv(path string) (SubnetEnv, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SubnetEnv{}, err
	}
	e, err := ParseSubnetEnv(data)
	if err != nil {
		return e, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}
