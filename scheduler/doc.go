// Package scheduler assigns pods to nodes.
//
// It watches pods without a node, filters the nodes that can run each one,
// scores those that can and binds the pod to the best through the API
// server's pods/binding subresource. Placement policy is a framework of
// plugins at fixed extension points, or a one-method Algorithm for research;
// scheduler/sim replays workloads against a simulated cluster.
package scheduler
