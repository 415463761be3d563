// Package overlay gives every node a pod subnet and connects the subnets of
// all nodes, flannel-style: subnet leases are kept in the store and each node
// programs routes (host-gw) or tunnels (vxlan) to its peers.
//
// # State in the store
//
// The network configuration is a JSON document at /coreos.com/network/config
// (see [Config]):
//
//	{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}
//
// Each node leases one subnet of the network at
// /coreos.com/network/subnets/<ip>-<len> (10.244.3.0-24), a key written with
// a TTL (24 hours by default) whose value is its [LeaseAttrs]:
//
//	{"PublicIP":"192.168.1.10","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"8e:..."}}
//
// The [SubnetManager] hands out the subnets over the store's compare-and-swap
// writes, so that any number of nodes can lease concurrently: a node that
// already holds a lease (same PublicIP) gets it back, a node whose lease
// expired asks for its previous subnet first, and a full network is
// [ErrNoFreeSubnet]. The manager reads no clock of its own: lease
// expirations are computed with an injected now function.
//
// # The agent
//
// [Overlay] is what the node agent and the container runtime depend on: a
// node's pod subnet and MTU, ready or not. An [Agent] is the overlay on one
// node ([Static] is a stand-in without a data plane). [Agent.Run] leases the subnet,
// brings up the [Backend], the pod bridge (gantry0, with the subnet's first
// address), the masquerade rules and the subnet.env file, then renews the
// lease well before it expires (RenewMargin) and follows the other nodes'
// leases with a store watch, level-triggered: whatever the watch says
// (added, changed, deleted, expired), the backend is brought to the current
// set of peers, and a failed change is retried. The data plane outlives
// Run, so pods keep their connectivity while the agent restarts;
// [Agent.Cleanup] removes all of it.
//
// Every netlink call is made through a handle bound to the node's network
// namespace ([Options.Namespace]), and iptables runs on a thread that has
// entered it, so one process can run the agents of several "hosts" (as the
// tests in overlay/overlaytest do).
//
// # Masquerading
//
// With [Options.IPMasq], the nat chain GANTRY-OVERLAY, jumped to from
// POSTROUTING, returns traffic from the cluster network to the cluster
// network (pods see each other's addresses), returns multicast, and
// masquerades everything else that leaves the node's pod subnet.
//
// # For the container runtime
//
// [Agent.Subnet] and [Agent.MTU] give the node's pod subnet and MTU in
// process; the subnet.env file ([SubnetEnv], flannel's FLANNEL_NETWORK,
// FLANNEL_SUBNET, FLANNEL_MTU and FLANNEL_IPMASQ) gives them to other
// processes.
//
// Backends live in subpackages: overlay/vxlan (with hybrid direct routing)
// and overlay/hostgw; overlay/overlaytest is their conformance suite.
package overlay
