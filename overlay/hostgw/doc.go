// Package hostgw is the overlay backend that routes to every peer's pod
// subnet via the peer's public IP, without encapsulation. All nodes must
// share one L2 segment; for nodes on several segments use package vxlan
// with DirectRouting (hybrid mode).
//
// The routes are installed over netlink in the node's network namespace,
// marked with the overlay's route protocol so that Cleanup finds them.
package hostgw
