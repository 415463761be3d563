// Package proxytest is the behaviour suite every proxy.Proxier backend
// runs: a node network namespace running the proxier, pods and a client
// behind it, a remote host beside it, and real TCP and UDP traffic to
// cluster IPs, node ports and external IPs. It needs root; everything it
// makes is removed when the test ends, pass or fail.
//
// A backend's test is one call:
//
//	func TestBehaviour(t *testing.T) {
//		proxytest.Run(t, proxytest.Backend{New: ..., Dump: ...})
//	}
package proxytest
