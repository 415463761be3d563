// Package nftables is the service proxy backend built for scale: Services
// become elements of nftables maps and one short chain per service port,
// all in one table of the proxier's own ("ip gantry" by default),
// programmed over netlink with github.com/google/nftables.
//
// The table holds (names as `nft list table ip gantry` shows them):
//
//	nat-prerouting, nat-output   nat hooks at dstnat priority; both jump to
//	services                     mark traffic to a service from outside
//	                             ClusterCIDR (or all of it, MasqueradeAll)
//	                             for masquerading; dispatch
//	                             ip daddr . meta l4proto . th dport
//	                             vmap @service-ips (cluster and external
//	                             IPs); then, for a local destination (or
//	                             one in NodePortAddresses),
//	                             meta l4proto . th dport vmap @service-nodeports.
//	                             Cluster IPs always win over node ports.
//	service-<hash>-<name>        per service port, one rule:
//	                             dnat ip to numgen random mod N offset K map @endpoints-M
//	                             The endpoints are elements of maps shared
//	                             by groups of 32 service ports (each owns a
//	                             slot of keys), so that one service changing
//	                             is a few element updates and one rule.
//	external-<hash>-<name>       node ports and external IPs: mark for
//	                             masquerade, goto the service chain.
//	affinity-<hash>-<name>       with ClientIP session affinity: a dynamic
//	                             set per endpoint of the clients pinned to
//	                             it (timeout = the affinity timeout,
//	                             refreshed on each new connection); the
//	                             service chain sends pinned clients to
//	                             their endpoint and pins new ones, one
//	                             pair of rules per endpoint.
//	nat-postrouting              masquerade hairpin connections (an
//	                             endpoint reaching itself, set @hairpin)
//	                             and those carrying the masquerade mark
//	                             (which is cleared).
//	filter-input, -forward,      reject new connections to services
//	-output                      without endpoints at once (vmaps
//	                             @no-endpoint-services and
//	                             @no-endpoint-nodeports goto reject-chain);
//	                             filter-forward also accepts marked and
//	                             established service traffic.
//
// A sync without a previous state (the first, or the one after an error)
// deletes and recreates the table in one netlink batch. After that a sync
// applies proxy.Diff: map element deletions and additions and the
// replacement of the chains of changed services, again in one batch, so
// every sync is atomic and one service changing costs a handful of netlink
// messages whatever the number of services. A sync without changes (the
// periodic one) checks the table's shape (its chains and sets, and the
// rules of its fixed chains) and rebuilds it if that changed behind the
// proxier's back. UDP conntrack entries that point at removed endpoints
// are deleted with the conntrack tool.
//
// Batches are written to the kernel with one sendmsg and without the
// per-message acknowledgements and rule echoes the library asks for (see
// transport.go): with them, reading the answers cost more than the
// kernel's work.
//
// nftables tables are independent: an accept in this table's forward chain
// does not override a drop in another table (Docker's iptables-nft filter
// FORWARD policy). Nodes that run Docker need an accept for service traffic
// in that table as well (see Proxier).
//
// The proxier acts on the network namespace of the calling thread: each
// call opens its netlink sockets there. Tests run it inside namespaces (see
// proxy/proxytest).
package nftables
