// Package iptables is the service proxy backend of the seeds' kube-proxy:
// Services become NAT rules in the nat table.
//
// Traffic enters through jumps from PREROUTING and OUTPUT into
// <prefix>-SERVICES, which matches each service port's cluster IP (and
// external IPs) and ends with the jump to <prefix>-NODEPORTS for traffic to
// a node address, so cluster IPs always win over node ports. A service
// port's <prefix>-SVC-<hash> chain picks one of its endpoints with the
// statistic module (probability 1/n, 1/(n-1), ... so each is equally
// likely), or the one a client was pinned to by the recent module when
// session affinity is on; each endpoint's <prefix>-SEP-<hash> chain DNATs
// to it. Traffic from outside the cluster network, to node ports and
// external IPs, and hairpin traffic is marked in <prefix>-MARK-MASQ and
// masqueraded in <prefix>-POSTROUTING. Services without endpoints are
// rejected in the filter table at once. Every rule names its service in a
// comment.
//
// Each sync is one `iptables-restore --noflush` call: atomic per table, and
// touching only the proxier's chains. After a change only the dispatch
// chains and the chains of changed services are rewritten; a sync without
// changes (the periodic one) rewrites everything and re-checks the hooks.
// UDP conntrack entries that point at removed endpoints are deleted with
// the conntrack tool so that established flows move on.
//
// The proxier acts on the network namespace of the calling thread; tests
// run it inside namespaces (see proxy/proxytest).
package iptables
