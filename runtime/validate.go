package runtime

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"
)

// nameRE is what pod names, namespaces, UIDs and container names may look
// like: Kubernetes names and UIDs fit, and so do runtime object names built
// from them.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Validate checks c and returns an error wrapping ErrInvalidArgument that
// lists every problem, or nil. Runtimes call it before creating anything.
func (c *SandboxConfig) Validate() error {
	var errs []error
	for _, f := range []struct{ field, v string }{{"name", c.Name}, {"namespace", c.Namespace}, {"uid", c.UID}} {
		if !nameRE.MatchString(f.v) {
			errs = append(errs, fmt.Errorf("pod %s %q: must be non-empty letters, digits, '.', '_' or '-'", f.field, f.v))
		}
	}
	n := c.Network
	if n.HostNetwork && (n.Bridge != "" || n.Subnet.IsValid()) {
		errs = append(errs, errors.New("network: host network excludes a bridge and a subnet"))
	}
	if n.Subnet.IsValid() && n.Bridge == "" {
		errs = append(errs, errors.New("network: a subnet needs a bridge name"))
	}
	if n.Bridge != "" && !nameRE.MatchString(n.Bridge) {
		errs = append(errs, fmt.Errorf("network: bridge name %q: must be letters, digits, '.', '_' or '-'", n.Bridge))
	}
	if n.Subnet.IsValid() && n.Subnet.Masked() != n.Subnet {
		errs = append(errs, fmt.Errorf("network: subnet %s has host bits set", n.Subnet))
	}
	for _, s := range c.DNS.Servers {
		if _, err := netip.ParseAddr(s); err != nil {
			errs = append(errs, fmt.Errorf("dns: server %q is not an IP address", s))
		}
	}
	for i, p := range c.PortMappings {
		if p.HostIP != "" {
			if _, err := netip.ParseAddr(p.HostIP); err != nil {
				errs = append(errs, fmt.Errorf("port mapping %d: host IP %q is not an IP address", i, p.HostIP))
			}
		}
		if p.ContainerPort < 1 || p.ContainerPort > 65535 || p.HostPort < 1 || p.HostPort > 65535 {
			errs = append(errs, fmt.Errorf("port mapping %d: ports must be 1-65535, got container %d host %d", i, p.ContainerPort, p.HostPort))
		}
		switch p.Protocol {
		case "", ProtocolTCP, ProtocolUDP, ProtocolSCTP:
		default:
			errs = append(errs, fmt.Errorf("port mapping %d: unknown protocol %q", i, p.Protocol))
		}
	}
	return invalid(errs)
}

// Validate checks c and returns an error wrapping ErrInvalidArgument that
// lists every problem, or nil. Runtimes call it before creating anything.
func (c *ContainerConfig) Validate() error {
	var errs []error
	if !nameRE.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("container name %q: must be non-empty letters, digits, '.', '_' or '-'", c.Name))
	}
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, errors.New("image: required"))
	}
	for i, e := range c.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			errs = append(errs, fmt.Errorf("env %d: bad name %q", i, e.Name))
		}
	}
	if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
		errs = append(errs, fmt.Errorf("working dir %q: must be absolute", c.WorkingDir))
	}
	for i, m := range c.Mounts {
		if !path.IsAbs(m.HostPath) || !path.IsAbs(m.ContainerPath) {
			errs = append(errs, fmt.Errorf("mount %d: host path %q and container path %q must be absolute", i, m.HostPath, m.ContainerPath))
		}
	}
	r := c.Resources
	if r.CPUShares != 0 && (r.CPUShares < 2 || r.CPUShares > 262144) {
		errs = append(errs, fmt.Errorf("resources: cpu shares %d: must be 2-262144", r.CPUShares))
	}
	if r.CPUQuota < 0 || r.CPUPeriod < 0 || r.MemoryLimit < 0 {
		errs = append(errs, errors.New("resources: cpu quota, cpu period and memory limit must not be negative"))
	}
	if r.CPUQuota != 0 && r.CPUQuota < 1000 {
		errs = append(errs, fmt.Errorf("resources: cpu quota %dus: must be at least 1000us", r.CPUQuota))
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		errs = append(errs, fmt.Errorf("resources: cpu period %dus: must be 1000-1000000us", r.CPUPeriod))
	}
	return invalid(errs)
}

// Validate checks o and returns an error wrapping ErrInvalidArgument, or nil.
func (o *ExecOptions) Validate() error {
	if len(o.Cmd) == 0 {
		return fmt.Errorf("%w: exec: empty command", ErrInvalidArgument)
	}
	return nil
}

// Validate checks o and returns an error wrapping ErrInvalidArgument, or nil.
func (o *PullOptions) Validate() error {
	switch o.Policy {
	case "", PullAlways, PullIfNotPresent, PullNever:
		return nil
	}
	return fmt.Errorf("%w: unknown pull policy %q", ErrInvalidArgument, o.Policy)
}

// DefaultPullPolicy is the policy Kubernetes defaults imagePullPolicy to for
// ref: PullAlways when ref has no tag or the tag "latest" (and no digest),
// PullIfNotPresent otherwise.
func DefaultPullPolicy(ref string) PullPolicy {
	if strings.Contains(ref, "@") {
		return PullIfNotPresent
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(last, ":")
	if i < 0 || last[i+1:] == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

func invalid(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidArgument, errors.Join(errs...))
}
