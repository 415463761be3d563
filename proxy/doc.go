// Package proxy defines the service proxy: a Proxier takes the desired
// services and endpoints and makes a node's data plane (NAT rules for
// ClusterIP and NodePort) match them. proxy/iptables and proxy/nftables
// implement it.
package proxy
