package runtime_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
)

func TestSandboxConfigValidate(t *testing.T) {
	valid := runtime.SandboxConfig{Name: "web-1", Namespace: "default", UID: "0f2b6c8e-1d1e-4b4c-9c55-4a9a6a0e1b2c"}
	for _, tc := range []struct {
		name   string
		mutate func(*runtime.SandboxConfig)
		ok     bool
	}{
		{"valid", func(*runtime.SandboxConfig) {}, true},
		{"host network", func(c *runtime.SandboxConfig) { c.Network.HostNetwork = true }, true},
		{"bridge and subnet", func(c *runtime.SandboxConfig) {
			c.Network = runtime.NetworkConfig{Bridge: "cbr0", Subnet: netip.MustParsePrefix("10.244.1.0/24")}
		}, true},
		{"bridge alone", func(c *runtime.SandboxConfig) { c.Network.Bridge = "cbr0" }, true},
		{"ports and dns", func(c *runtime.SandboxConfig) {
			c.PortMappings = []runtime.PortMapping{{ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1", Protocol: runtime.ProtocolUDP}}
			c.DNS = runtime.DNSConfig{Servers: []string{"10.96.0.10", "fd00::a"}, Searches: []string{"svc.cluster.local"}}
		}, true},
		{"empty name", func(c *runtime.SandboxConfig) { c.Name = "" }, false},
		{"empty namespace", func(c *runtime.SandboxConfig) { c.Namespace = "" }, false},
		{"empty uid", func(c *runtime.SandboxConfig) { c.UID = "" }, false},
		{"slash in name", func(c *runtime.SandboxConfig) { c.Name = "a/b" }, false},
		{"host network with bridge", func(c *runtime.SandboxConfig) { c.Network = runtime.NetworkConfig{HostNetwork: true, Bridge: "x"} }, false},
		{"subnet without bridge", func(c *runtime.SandboxConfig) { c.Network.Subnet = netip.MustParsePrefix("10.0.0.0/24") }, false},
		{"subnet with host bits", func(c *runtime.SandboxConfig) {
			c.Network = runtime.NetworkConfig{Bridge: "b", Subnet: netip.MustParsePrefix("10.0.0.1/24")}
		}, false},
		{"bad bridge name", func(c *runtime.SandboxConfig) { c.Network.Bridge = "br 0" }, false},
		{"container port 0", func(c *runtime.SandboxConfig) { c.PortMappings = []runtime.PortMapping{{HostPort: 80}} }, false},
		{"bad protocol", func(c *runtime.SandboxConfig) {
			c.PortMappings = []runtime.PortMapping{{ContainerPort: 80, HostPort: 80, Protocol: "ICMP"}}
		}, false},
		{"bad host IP", func(c *runtime.SandboxConfig) {
			c.PortMappings = []runtime.PortMapping{{ContainerPort: 80, HostPort: 80, HostIP: "localhost"}}
		}, false},
		{"bad dns server", func(c *runtime.SandboxConfig) { c.DNS.Servers = []string{"ns1"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.Validate()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, runtime.ErrInvalidArgument)
			}
		})
	}
}

func TestContainerConfigValidate(t *testing.T) {
	valid := runtime.ContainerConfig{Name: "app", Image: "gantry.local/busybox:1.0"}
	for _, tc := range []struct {
		name   string
		mutate func(*runtime.ContainerConfig)
		ok     bool
	}{
		{"valid", func(*runtime.ContainerConfig) {}, true},
		{"everything", func(c *runtime.ContainerConfig) {
			c.Command, c.Args = []string{"sh"}, []string{"-c", "true"}
			c.Env = []runtime.EnvVar{{Name: "A", Value: "a=b"}}
			c.WorkingDir = "/w"
			c.Mounts = []runtime.Mount{{HostPath: "/tmp", ContainerPath: "/t", ReadOnly: true}}
			c.Resources = runtime.Resources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000, MemoryLimit: 1 << 20}
		}, true},
		{"no name", func(c *runtime.ContainerConfig) { c.Name = "" }, false},
		{"no image", func(c *runtime.ContainerConfig) { c.Image = " " }, false},
		{"env name with =", func(c *runtime.ContainerConfig) { c.Env = []runtime.EnvVar{{Name: "A=B"}} }, false},
		{"empty env name", func(c *runtime.ContainerConfig) { c.Env = []runtime.EnvVar{{Value: "x"}} }, false},
		{"relative working dir", func(c *runtime.ContainerConfig) { c.WorkingDir = "w" }, false},
		{"relative container path", func(c *runtime.ContainerConfig) {
			c.Mounts = []runtime.Mount{{HostPath: "/tmp", ContainerPath: "t"}}
		}, false},
		{"cpu shares 1", func(c *runtime.ContainerConfig) { c.Resources.CPUShares = 1 }, false},
		{"cpu quota below 1ms", func(c *runtime.ContainerConfig) { c.Resources.CPUQuota = 999 }, false},
		{"cpu period too long", func(c *runtime.ContainerConfig) { c.Resources.CPUPeriod = 2000000 }, false},
		{"negative memory", func(c *runtime.ContainerConfig) { c.Resources.MemoryLimit = -1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.Validate()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, runtime.ErrInvalidArgument)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	assert.ErrorIs(t, (&runtime.ExecOptions{}).Validate(), runtime.ErrInvalidArgument)
	assert.NoError(t, (&runtime.ExecOptions{Cmd: []string{"true"}}).Validate())
	for _, p := range []runtime.PullPolicy{"", runtime.PullAlways, runtime.PullIfNotPresent, runtime.PullNever} {
		assert.NoError(t, (&runtime.PullOptions{Policy: p}).Validate(), p)
	}
	assert.ErrorIs(t, (&runtime.PullOptions{Policy: "always"}).Validate(), runtime.ErrInvalidArgument)
}

func TestDefaultPullPolicy(t *testing.T) {
	for ref, want := range map[string]runtime.PullPolicy{
		"busybox":                             runtime.PullAlways,
		"busybox:latest":                      runtime.PullAlways,
		"busybox:1.36":                        runtime.PullIfNotPresent,
		"gantry.local/busybox:1.0":            runtime.PullIfNotPresent,
		"registry:5000/team/app":              runtime.PullAlways,
		"registry:5000/team/app:v2":           runtime.PullIfNotPresent,
		"app@sha256:" + sixtyFourZeros:        runtime.PullIfNotPresent,
		"app:latest@sha256:" + sixtyFourZeros: runtime.PullIfNotPresent,
	} {
		assert.Equal(t, want, runtime.DefaultPullPolicy(ref), ref)
	}
}

const sixtyFourZeros = "0000000000000000000000000000000000000000000000000000000000000000"

func TestLabels(t *testing.T) {
	sb := runtime.SandboxConfig{Name: "web", Namespace: "prod", UID: "u1", Attempt: 2,
		Labels: map[string]string{"app": "web", runtime.LabelPodUID: "spoofed"}}
	l := runtime.SandboxLabels(sb)
	assert.Equal(t, map[string]string{
		"app": "web", runtime.LabelManaged: "true", runtime.LabelKind: runtime.LabelKindSandbox,
		runtime.LabelPodName: "web", runtime.LabelPodNamespace: "prod", runtime.LabelPodUID: "u1",
		runtime.LabelSandboxAttempt: "2",
	}, l)
	assert.Equal(t, "spoofed", sb.Labels[runtime.LabelPodUID], "the config's map is not changed")

	c := runtime.ContainerConfig{Name: "app", Attempt: 5, Labels: map[string]string{"tier": "front"}}
	cl := runtime.ContainerLabels(runtime.Sandbox{ID: "s1", Name: "web", Namespace: "prod", UID: "u1"}, c)
	assert.Equal(t, map[string]string{
		"tier": "front", runtime.LabelManaged: "true", runtime.LabelKind: runtime.LabelKindContainer,
		runtime.LabelPodName: "web", runtime.LabelPodNamespace: "prod", runtime.LabelPodUID: "u1",
		runtime.LabelSandboxID: "s1", runtime.LabelContainerName: "app", runtime.LabelRestartCount: "5",
	}, cl)
	assert.Equal(t, uint32(5), runtime.ParseAttempt(cl[runtime.LabelRestartCount]))
	assert.Equal(t, uint32(0), runtime.ParseAttempt("x"))
	assert.Equal(t, uint32(0), runtime.ParseAttempt(""))

	for _, tc := range []struct {
		name     string
		selector map[string]string
		want     bool
	}{
		{"empty", nil, true},
		{"one", map[string]string{"tier": "front"}, true},
		{"two", map[string]string{"tier": "front", runtime.LabelContainerName: "app"}, true},
		{"wrong value", map[string]string{"tier": "back"}, false},
		{"missing key", map[string]string{"zone": ""}, false},
	} {
		assert.Equal(t, tc.want, runtime.MatchLabels(cl, tc.selector), tc.name)
	}
}

func TestVersionString(t *testing.T) {
	require.Equal(t, "docker://20.10.24", runtime.VersionInfo{RuntimeName: "docker", RuntimeVersion: "20.10.24"}.String())
}
