package runtime

import (
	"io"
	"net/netip"
	"time"
)

// SandboxConfig describes the sandbox of one pod.
type SandboxConfig struct {
	// Name, Namespace and UID identify the pod. All three are required.
	Name      string
	Namespace string
	UID       string
	// Attempt counts the sandboxes created for this pod before (0 for the
	// first). A new attempt may be created while an old one still exists.
	Attempt uint32

	// Hostname of the pod. Empty: the runtime's default (Docker: the short
	// container ID). Ignored with host networking (the pod has the node's).
	Hostname string

	// Labels identify the sandbox; ListSandboxes filters on them. Keys of the
	// gantry.io/ prefix are the runtime's own (see SandboxLabels) and are
	// overwritten.
	Labels map[string]string
	// Annotations carry unstructured data the runtime keeps and returns.
	Annotations map[string]string

	// DNS is the pod's resolver configuration (/etc/resolv.conf). Empty
	// fields keep the runtime's defaults.
	DNS DNSConfig
	// PortMappings publish container ports on the node (hostPort). With
	// host networking they are ignored: the ports are the node's already.
	PortMappings []PortMapping
	// Network says which network the pod joins.
	Network NetworkConfig
}

// DNSConfig is a pod's resolver configuration.
type DNSConfig struct {
	// Servers are name server IP addresses.
	Servers []string
	// Searches are search domains.
	Searches []string
	// Options are resolv.conf options such as "ndots:5".
	Options []string
}

// Protocol is a port's transport protocol.
type Protocol string

// Protocols, spelled as in Kubernetes.
const (
	ProtocolTCP  Protocol = "TCP"
	ProtocolUDP  Protocol = "UDP"
	ProtocolSCTP Protocol = "SCTP"
)

// PortMapping publishes a container port of the pod on the node.
type PortMapping struct {
	// Protocol defaults to TCP.
	Protocol Protocol
	// ContainerPort is the port inside the pod, 1-65535.
	ContainerPort int32
	// HostPort is the node's port, 1-65535.
	HostPort int32
	// HostIP restricts the mapping to one node address; empty: all.
	HostIP string
}

// NetworkConfig selects a sandbox's network.
type NetworkConfig struct {
	// HostNetwork puts the pod in the node's network namespace; Bridge and
	// Subnet must then be empty.
	HostNetwork bool
	// Bridge names the node's pod bridge network. The runtime creates it
	// when absent (with Subnet, when given) and reuses it otherwise. Empty:
	// the runtime's default network.
	Bridge string
	// Subnet is the node's pod subnet (the overlay leases one per node). Pods
	// on Bridge get their IP from it. A Bridge that exists with a different
	// subnet is an error (ErrAlreadyExists). Requires Bridge.
	Subnet netip.Prefix
}

// SandboxState is whether a sandbox can run containers.
type SandboxState string

// Sandbox states.
const (
	// SandboxReady: the sandbox holds its namespaces; containers can join.
	SandboxReady SandboxState = "Ready"
	// SandboxNotReady: the sandbox was stopped or died.
	SandboxNotReady SandboxState = "NotReady"
)

// Sandbox is a sandbox as listed.
type Sandbox struct {
	ID string
	// Name, Namespace, UID and Attempt are those of its SandboxConfig.
	Name      string
	Namespace string
	UID       string
	Attempt   uint32
	State     SandboxState
	CreatedAt time.Time
	// Labels are the config's labels plus the runtime's (SandboxLabels).
	Labels      map[string]string
	Annotations map[string]string
}

// SandboxStatus is the detailed status of one sandbox.
type SandboxStatus struct {
	Sandbox
	// IP is the pod's address; the zero Addr when it has none (host
	// network, or the sandbox is not ready).
	IP netip.Addr
	// Network is the network the pod joined ("host" with host networking).
	Network string
	// HostNetwork is the config's HostNetwork.
	HostNetwork bool
	// Hostname is the pod's hostname.
	Hostname string
	// NetNS is the path of the pod's network namespace on the node while
	// the sandbox is ready (Docker: /proc/<pid>/ns/net of the pause
	// process, a path in the PID namespace of the runtime's daemon, which
	// the node agent must share). Entering it reaches the pod's loopback,
	// as the kubelet's port forwarding does. Empty with host networking,
	// when the sandbox is not ready, and for runtimes that have no
	// namespaces on the node (the fake). The path names the namespace only
	// while the sandbox runs: a caller that uses it after the sandbox
	// stopped may find it gone.
	NetNS string
}

// SandboxFilter selects sandboxes. Zero fields match everything.
type SandboxFilter struct {
	ID    string
	State SandboxState
	// Labels must all be present with these values.
	Labels map[string]string
}

// ContainerConfig describes one container of a pod.
type ContainerConfig struct {
	// Name of the container in the pod. Required.
	Name string
	// Attempt counts the containers of this name created in the sandbox
	// before: the container's restart count (kept as the label
	// gantry.io/restart-count).
	Attempt uint32

	// Image reference, required. It must be present (PullImage).
	Image string
	// Command replaces the image's entrypoint when non-empty; Args replace
	// its command when non-empty. As in Kubernetes, setting Command alone
	// drops the image's command.
	Command []string
	Args    []string
	// Env adds environment variables, in order.
	Env []EnvVar
	// WorkingDir replaces the image's working directory when non-empty.
	WorkingDir string
	// Mounts bind host paths into the container. The host paths must exist.
	Mounts []Mount

	// Resources limit the container.
	Resources Resources
	// Privileged gives the container all capabilities and devices.
	Privileged bool

	// Stdin keeps the container's standard input open for Attach
	// (a pod's stdin); StdinOnce closes it when the first attached client
	// detaches (stdinOnce); TTY gives the container a terminal (tty).
	Stdin, StdinOnce, TTY bool

	// Labels identify the container; ListContainers filters on them. Keys of
	// the gantry.io/ prefix are the runtime's own (see ContainerLabels) and
	// are overwritten.
	Labels map[string]string
	// Annotations carry unstructured data the runtime keeps and returns.
	Annotations map[string]string
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string
	Value string
}

// Mount binds a host path into a container.
type Mount struct {
	// HostPath is an absolute path on the node; it must exist.
	HostPath string
	// ContainerPath is an absolute path in the container.
	ContainerPath string
	// ReadOnly mounts it read-only.
	ReadOnly bool
}

// Resources are a container's CPU and memory limits, in the units the Linux
// cgroups take. Zero fields mean "no limit" (or the runtime's default).
type Resources struct {
	// CPUShares is the relative CPU weight (cpu.shares, 2-262144); Kubernetes
	// sets it from the CPU request: millicores*1024/1000.
	CPUShares int64
	// CPUQuota is the CPU time in microseconds the container may use per
	// CPUPeriod (cpu.cfs_quota_us); Kubernetes sets it from the CPU limit:
	// millicores*CPUPeriod/1000.
	CPUQuota int64
	// CPUPeriod is the CFS period in microseconds; 0: the default, 100000.
	CPUPeriod int64
	// MemoryLimit is the memory limit in bytes (memory.limit_in_bytes).
	MemoryLimit int64
}

// ContainerState is a container's lifecycle state.
type ContainerState string

// Container states, as in the CRI.
const (
	ContainerCreated ContainerState = "created"
	ContainerRunning ContainerState = "running"
	ContainerExited  ContainerState = "exited"
	ContainerUnknown ContainerState = "unknown"
)

// Reasons a container exited, for ContainerStatus.Reason (the node agent's
// terminated reason).
const (
	ReasonCompleted  = "Completed"  // exit code 0
	ReasonError      = "Error"      // non-zero exit code
	ReasonOOMKilled  = "OOMKilled"  // killed by the kernel's OOM killer
	ReasonStartError = "StartError" // the process could not be started
)

// Container is a container as listed.
type Container struct {
	ID        string
	SandboxID string
	// Name and Attempt are those of its ContainerConfig; Attempt is the
	// restart count.
	Name    string
	Attempt uint32
	// Image is the reference the container was created with.
	Image string
	// ImageID is the ID of the image it runs.
	ImageID   string
	State     ContainerState
	CreatedAt time.Time
	// Labels are the config's labels plus the runtime's (ContainerLabels).
	Labels      map[string]string
	Annotations map[string]string
}

// ContainerStatus is the detailed status of one container.
type ContainerStatus struct {
	Container
	// StartedAt and FinishedAt are zero until the container started and
	// exited.
	StartedAt  time.Time
	FinishedAt time.Time
	// ExitCode is the process's exit code once exited (128+n when killed by
	// signal n: 137 for SIGKILL).
	ExitCode int
	// Reason says why it exited (the Reason constants); Message adds detail.
	Reason  string
	Message string
	// Resources are the limits in effect.
	Resources Resources
}

// ContainerFilter selects containers. Zero fields match everything.
type ContainerFilter struct {
	ID        string
	SandboxID string
	State     ContainerState
	// Labels must all be present with these values.
	Labels map[string]string
}

// LogOptions select what ContainerLogs copies.
type LogOptions struct {
	// Follow keeps copying new output until the container exits.
	Follow bool
	// TailLines, when set, copies only that many of the last lines (0: none
	// of the past output). Nil copies all.
	TailLines *int64
	// Since, when set, skips output written before it.
	Since time.Time
	// Timestamps prefixes every line with its RFC 3339 time (nanoseconds) and
	// a space, as Kubernetes does.
	Timestamps bool
}

// ExecOptions describe a command to run in a container.
type ExecOptions struct {
	// Cmd is the command and its arguments. Required.
	Cmd []string
	// Stdin, when set, is copied to the command's standard input, which is
	// closed when Stdin returns EOF.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil drops it. With TTY
	// both streams arrive merged on Stdout.
	Stdout io.Writer
	Stderr io.Writer
	// TTY runs the command on a terminal.
	TTY bool
	// Resize, with TTY, delivers terminal size changes until it is closed or
	// the command exits.
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width  uint16
	Height uint16
}

// PullPolicy says when PullImage pulls, as Kubernetes' imagePullPolicy.
type PullPolicy string

// Pull policies.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// AuthConfig are credentials for one registry, as decoded from an
// imagePullSecret (.dockerconfigjson).
type AuthConfig struct {
	// ServerAddress is the registry host the credentials are for.
	ServerAddress string
	Username      string
	Password      string
	// Auth is base64("username:password"), an alternative to both.
	Auth string
	// IdentityToken and RegistryToken are bearer tokens.
	IdentityToken string
	RegistryToken string
}

// PullOptions control PullImage.
type PullOptions struct {
	// Policy defaults to PullIfNotPresent.
	Policy PullPolicy
	// Auth are credentials tried in order until a pull succeeds; empty pulls
	// anonymously.
	Auth []AuthConfig
}

// Image is a local image.
type Image struct {
	// ID is the image's content ID (sha256:...).
	ID          string
	RepoTags    []string
	RepoDigests []string
	// Size in bytes.
	Size int64
}

// VersionInfo names a runtime and its version.
type VersionInfo struct {
	// RuntimeName is e.g. "docker".
	RuntimeName string
	// RuntimeVersion is the runtime's version, e.g. "20.10.24".
	RuntimeVersion string
	// APIVersion is the runtime API version in use, e.g. "1.41".
	APIVersion string
}

// String formats v as Kubernetes shows a node's container runtime version:
// "docker://20.10.24".
func (v VersionInfo) String() string { return v.RuntimeName + "://" + v.RuntimeVersion }
