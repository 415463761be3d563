package runtime

import (
	"maps"
	"strconv"
)

// Label keys a runtime puts on everything it creates. They are how a node
// agent that restarts finds its sandboxes and containers again.
const (
	// LabelManaged is "true" on every object a gantry runtime created.
	LabelManaged = "gantry.io/managed"
	// LabelKind is LabelKindSandbox or LabelKindContainer.
	LabelKind = "gantry.io/kind"
	// LabelPodName, LabelPodNamespace and LabelPodUID identify the pod.
	LabelPodName      = "gantry.io/pod-name"
	LabelPodNamespace = "gantry.io/pod-namespace"
	LabelPodUID       = "gantry.io/pod-uid"
	// LabelSandboxAttempt is a sandbox's SandboxConfig.Attempt.
	LabelSandboxAttempt = "gantry.io/sandbox-attempt"
	// LabelSandboxID is, on a container, the ID of its sandbox.
	LabelSandboxID = "gantry.io/sandbox-id"
	// LabelContainerName is a container's name in its pod.
	LabelContainerName = "gantry.io/container-name"
	// LabelRestartCount is a container's ContainerConfig.Attempt.
	LabelRestartCount = "gantry.io/restart-count"
	// LabelNode is the node name a runtime was configured with, when one
	// was: several node agents can then share one runtime daemon.
	LabelNode = "gantry.io/node"
)

// Values of LabelKind.
const (
	LabelKindSandbox   = "sandbox"
	LabelKindContainer = "container"
)

// SandboxLabels returns the labels of a sandbox made from config: its own
// labels plus the runtime's (which win on conflict). The result is a new map.
func SandboxLabels(config SandboxConfig) map[string]string {
	l := make(map[string]string, len(config.Labels)+6)
	maps.Copy(l, config.Labels)
	l[LabelManaged] = "true"
	l[LabelKind] = LabelKindSandbox
	l[LabelPodName] = config.Name
	l[LabelPodNamespace] = config.Namespace
	l[LabelPodUID] = config.UID
	l[LabelSandboxAttempt] = strconv.FormatUint(uint64(config.Attempt), 10)
	return l
}

// ContainerLabels returns the labels of a container made from config in
// sandbox: its own labels plus the runtime's (which win on conflict), the pod
// identity taken from sandbox. The result is a new map.
func ContainerLabels(sandbox Sandbox, config ContainerConfig) map[string]string {
	l := make(map[string]string, len(config.Labels)+8)
	maps.Copy(l, config.Labels)
	l[LabelManaged] = "true"
	l[LabelKind] = LabelKindContainer
	l[LabelPodName] = sandbox.Name
	l[LabelPodNamespace] = sandbox.Namespace
	l[LabelPodUID] = sandbox.UID
	l[LabelSandboxID] = sandbox.ID
	l[LabelContainerName] = config.Name
	l[LabelRestartCount] = strconv.FormatUint(uint64(config.Attempt), 10)
	return l
}

// MatchLabels reports whether labels has every key of selector with the same
// value. An empty selector matches everything.
func MatchLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// ParseAttempt reads an attempt or restart count label value; malformed or
// missing values read as 0.
func ParseAttempt(v string) uint32 {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}
