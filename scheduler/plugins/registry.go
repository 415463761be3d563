package plugins

import (
	"github.com/gantryhq/gantry/scheduler"
)

// Plugin names.
const (
	PrioritySortName       = "PrioritySort"
	NodeUnschedulableName  = "NodeUnschedulable"
	NodeNameName           = "NodeName"
	NodePortsName          = "NodePorts"
	NodeResourcesFitName   = "NodeResourcesFit"
	BalancedAllocationName = "NodeResourcesBalancedAllocation"
	NodeAffinityName       = "NodeAffinity"
	TaintTolerationName    = "TaintToleration"
	PodTopologySpreadName  = "PodTopologySpread"
	InterPodAffinityName   = "InterPodAffinity"
	ImageLocalityName      = "ImageLocality"
	DefaultPreemptionName  = "DefaultPreemption"
)

// NewRegistry returns a new Registry with every default plugin. Callers
// may Register more (a duplicate name is an error).
func NewRegistry() scheduler.Registry {
	return scheduler.Registry{
		PrioritySortName:       NewPrioritySort,
		NodeUnschedulableName:  NewNodeUnschedulable,
		NodeNameName:           NewNodeName,
		NodePortsName:          NewNodePorts,
		NodeResourcesFitName:   NewNodeResourcesFit,
		BalancedAllocationName: NewBalancedAllocation,
		NodeAffinityName:       NewNodeAffinity,
		TaintTolerationName:    NewTaintToleration,
		PodTopologySpreadName:  NewPodTopologySpread,
		InterPodAffinityName:   NewInterPodAffinity,
		ImageLocalityName:      NewImageLocality,
		DefaultPreemptionName:  NewDefaultPreemption,
	}
}

// DefaultPlugins lists the default profile's plugins with kube-scheduler's
// score weights.
func DefaultPlugins() []scheduler.PluginConfig {
	return []scheduler.PluginConfig{
		{Name: PrioritySortName},
		{Name: NodeUnschedulableName},
		{Name: NodeNameName},
		{Name: TaintTolerationName, Weight: 3},
		{Name: NodeAffinityName, Weight: 2},
		{Name: NodePortsName},
		{Name: NodeResourcesFitName, Weight: 1},
		{Name: PodTopologySpreadName, Weight: 2},
		{Name: InterPodAffinityName, Weight: 2},
		{Name: DefaultPreemptionName},
		{Name: BalancedAllocationName, Weight: 1},
		{Name: ImageLocalityName, Weight: 1},
	}
}

// DefaultProfile returns the default plugins as a profile for
// schedulerName.
func DefaultProfile(schedulerName string) scheduler.Profile {
	return scheduler.Profile{SchedulerName: schedulerName, Plugins: DefaultPlugins()}
}
