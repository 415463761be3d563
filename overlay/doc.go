// Package overlay gives every node a pod subnet and connects the subnets of
// all nodes, flannel-style: subnet leases are kept in the store and each node
// programs routes (host-gw) or tunnels (vxlan) to its peers.
package overlay
