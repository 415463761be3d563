// Package overlaytest is the end-to-end test kit and conformance suite of
// the overlay backends: it builds "hosts" and "pods" out of network
// namespaces on one machine and checks that an overlay connects them.
//
// A [Topology] is a switch namespace with one bridge per L2 segment, routed
// between segments; each [Host] is a namespace with an eth0 on one segment;
// each [Pod] is a namespace with an eth0 attached to its host's pod bridge.
// Names start with "gov-" and are unique per process and test, so tests can
// run in parallel with each other and with other packages. Everything is
// deleted in t.Cleanup, also when a test fails.
//
// [Suite] runs three agents over one store and checks pod-to-pod ICMP and
// TCP, lease expiry, agent restarts and cleanup; each backend's tests run it.
//
// It needs root, iproute2, iptables and busybox (for ping); [RequireRoot]
// skips a test when not root, and fails it when a tool is missing.
package overlaytest
