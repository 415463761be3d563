// Package plugins holds gantry's default scheduler plugins, modelled on
// kube-scheduler's: PrioritySort, NodeUnschedulable, NodeName, NodePorts,
// NodeResourcesFit (least/most allocated), NodeResourcesBalancedAllocation,
// NodeAffinity, TaintToleration, PodTopologySpread, InterPodAffinity,
// ImageLocality and DefaultPreemption.
//
// NewRegistry returns their factories as an explicit scheduler.Registry
// value and DefaultProfile enables them with kube-scheduler's weights:
//
//	s, err := scheduler.New(scheduler.Options{
//		Registry: plugins.NewRegistry(),
//		Profiles: []scheduler.Profile{plugins.DefaultProfile("default-scheduler")},
//		Binder:   binder,
//	})
//
// Every plugin is stateless between cycles; per-cycle data lives in the
// scheduler.CycleState under the plugin's name.
package plugins
