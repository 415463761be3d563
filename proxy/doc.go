// Package proxy is the service proxy of a node (kube-proxy's role).
//
// A Proxier takes the desired State — every service port with its cluster
// IP, node port, external IPs, session affinity and ready endpoints — and
// makes the node's data plane match it; proxy/iptables and
// proxy/nftables implement it, and proxy/proxytest is the behaviour suite
// both run with real traffic.
//
// A Runner feeds a Proxier from the API server: client-go informers on
// Services and EndpointSlices, BuildState to turn them into a State, and
// syncs batched to at most one per MinSyncPeriod and at least one per
// SyncPeriod. Its Handler serves /healthz and /metrics.
package proxy
