// Package nftables is the service proxy backend built for scale: Services
// become elements of nftables verdict maps and one short chain per service
// port, all in one table of the proxier's own ("ip gantry" by default),
// programmed over netlink with github.com/google/nftables.
//
// The table holds (names as `nft list table ip gantry` shows them):
//
//	nat-prerouting, nat-output   nat hooks at dstnat priority; both jump to
//	services                     dispatch: ip daddr . meta l4proto . th dport
//	                             vmap @service-ips (cluster and external IPs),
//	                             then, for a local destination (or one in
//	                             NodePortAddresses), meta l4proto . th dport
//	                             vmap @service-nodeports. Cluster IPs always
//	                             win over node ports.
//	service-<hash>-<name>        per service port: mark for masquerade when
//	                             the client is outside ClusterCIDR (or
//	                             always, MasqueradeAll), then
//	                             dnat to numgen random mod N map { 0 : addr . port, ... }
//	                             with the endpoints in an anonymous map.
//	                             With session affinity, a dynamic map
//	                             affinity-<hash>-<name> (ip saddr : addr .
//	                             port, with timeout) pins clients; a pin to
//	                             an endpoint no longer in the service is
//	                             deleted from the packet path.
//	external-<hash>-<name>       node ports and external IPs: mark for
//	                             masquerade, goto the service chain.
//	nat-postrouting              masquerade hairpin traffic (an endpoint
//	                             reaching itself, set @hairpin) and packets
//	                             carrying the masquerade mark (cleared).
//	filter-input, -forward,      reject new connections to services without
//	-output                      endpoints at once (vmaps
//	                             @no-endpoint-services and
//	                             @no-endpoint-nodeports goto reject);
//	                             filter-forward also accepts marked and
//	                             established service traffic.
//
// A sync without a previous state (the first, or the one after an error)
// deletes and recreates the table in one netlink batch. After that a sync
// applies proxy.Diff: map element deletions and additions, and the
// replacement of the chains of changed services, again in one batch, so
// every sync is atomic and one service changing costs a handful of netlink
// messages whatever the number of services. A sync without changes (the
// periodic one) checks that the table is still there with the objects it
// had, and rebuilds it if not. UDP conntrack entries that point at removed
// endpoints are deleted with the conntrack tool.
//
// nftables tables are independent: an accept in this table's forward chain
// does not override a drop in another table (Docker's iptables-nft filter
// FORWARD policy). Nodes that run Docker need an accept for service traffic
// in that table as well (see Proxier).
//
// The proxier acts on the network namespace of the calling thread: each
// call opens its netlink socket there. Tests run it inside namespaces (see
// proxy/proxytest).
package nftables
