// Package vxlan is the overlay backend that connects the nodes' pod subnets
// through a VXLAN device on every node, programmed over netlink.
//
// Each node has a device gantry.<VNI> on top of its underlay interface, with
// learning off and the node's subnet address (10.244.3.0/32) on it. For every
// peer the backend installs, on that device, a permanent neighbour entry
// (the peer's subnet address -> the peer's VTEP MAC), a forwarding-database
// entry (the peer's VTEP MAC -> the peer's public IP) and an onlink route to
// the peer's subnet via the peer's subnet address. A node publishes its VNI
// and VTEP MAC in its lease.
//
// With DirectRouting, peers on the same L2 segment as the node's underlay
// address are reached by plain routes via their public IP, as with host-gw,
// and only the others through VXLAN: flannel's hybrid mode.
//
// The pod MTU is the underlay MTU minus 50 (the VXLAN, UDP, IP and inner
// Ethernet headers) unless configured otherwise.
package vxlan
