// Package nodelifecycle holds the node lifecycle controller, as the seeds
// and kube-controller-manager describe it:
//
//   - It watches node heartbeats: the node's Lease in kube-node-lease and
//     the Ready condition's lastHeartbeatTime. A node without a new
//     heartbeat for NodeMonitorGracePeriod (40s) gets its conditions set to
//     Unknown ("Kubelet stopped posting node status.").
//   - A node whose Ready condition is False gets the taints
//     node.kubernetes.io/not-ready, one whose Ready is Unknown
//     node.kubernetes.io/unreachable, with effect NoSchedule at once and
//     NoExecute at a rate limited per zone; a Ready node loses them.
//   - When a node's Ready condition stops being True (marked Unknown here,
//     or False from its node agent), its pods' Ready condition is set to
//     False once, with a NodeNotReady event ("Node is not ready") on each:
//     the endpoints controllers then stop sending them traffic at once,
//     long before any eviction. The node agent sets Ready again when it is
//     back.
//   - Pods on a node with a NoExecute taint are evicted when their
//     toleration of it runs out (tolerationSeconds), after
//     PodEvictionTimeout (5m) when they do not tolerate it, never when they
//     tolerate it without a limit.
//   - Zones: a zone with more than two and at least UnhealthyZoneThreshold
//     (0.55) of its nodes not Ready is partially disrupted: NoExecute
//     tainting slows to SecondaryEvictionRate (0.01/s) when the zone has
//     more than LargeClusterSizeThreshold (50) nodes and stops otherwise. A
//     zone whose nodes are all not Ready is fully disrupted and tainted at
//     the normal EvictionRate (0.1/s), unless every zone is: then the
//     controller assumes it is the one cut off, stops all evictions and
//     removes the NoExecute taints it set.
//   - With ClusterCIDR set it gives each node without spec.podCIDR the next
//     free subnet of NodeCIDRMaskSize bits.
//   - It records what kubectl describe shows: on the Node, RegisteredNode
//     ("Node n1 event: Registered Node n1 in Controller") when it first
//     sees it, RemovingNode when it is gone and NodeNotReady ("Node n1
//     status is now: NodeNotReady") when it marks a Ready node Unknown; on
//     an evicted pod, TaintManagerEviction ("Marking for deletion Pod
//     ns/name").
//
// All timing uses the injected clock: Monitor does one pass and is what
// tests call after stepping a fake clock; Start calls it every
// NodeMonitorPeriod.
package nodelifecycle
