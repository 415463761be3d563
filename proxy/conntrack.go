package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// StaleUDPFlows returns the connection tracking filters (arguments of
// `conntrack -D -p udp`) of the UDP flows that a change from prev to next
// leaves stuck: flows DNATed to endpoints that are gone, which would keep
// sending datagrams there, and flows that started while a service had no
// endpoints, which would never reach the new ones. prev nil means nothing
// to compare with: no filters.
func StaleUDPFlows(prev, next *State) [][]string {
	if prev == nil {
		return nil
	}
	var out [][]string
	for _, old := range prev.Services {
		if old.Name.Protocol != v1.ProtocolUDP {
			continue
		}
		cur := next.Lookup(old.Name)
		if cur != nil && cur.Equal(old) {
			continue
		}
		for _, ep := range old.Endpoints {
			if cur != nil && slices.Contains(cur.Endpoints, ep) {
				continue
			}
			to := ep.Addr.String()
			out = append(out, []string{"--orig-dst", old.ClusterIP.String(), "--dst-nat", to})
			for _, ip := range old.ExternalIPs {
				out = append(out, []string{"--orig-dst", ip.String(), "--dst-nat", to})
			}
			if old.NodePort != 0 {
				out = append(out, []string{"--orig-port-dst", fmt.Sprint(old.NodePort), "--dst-nat", to})
			}
		}
	}
	for _, sp := range next.Services {
		if sp.Name.Protocol != v1.ProtocolUDP || len(sp.Endpoints) == 0 {
			continue
		}
		if old := prev.Lookup(sp.Name); old != nil && len(old.Endpoints) == 0 {
			out = append(out, []string{"--orig-dst", sp.ClusterIP.String(), "--orig-port-dst", fmt.Sprint(sp.Port)})
			if sp.NodePort != 0 {
				out = append(out, []string{"--orig-port-dst", fmt.Sprint(sp.NodePort)})
			}
		}
	}
	return out
}

// ClearStaleUDPFlows deletes the flows StaleUDPFlows names with the
// conntrack tool; run executes `conntrack <args>` in the proxier's network
// namespace. A filter that matches nothing is not an error.
func ClearStaleUDPFlows(ctx context.Context, prev, next *State, run func(ctx context.Context, args ...string) error) error {
	var errs []error
	for _, filter := range StaleUDPFlows(prev, next) {
		args := append([]string{"-D", "-p", "udp"}, filter...)
		if err := run(ctx, args...); err != nil && !strings.Contains(err.Error(), "0 flow entries have been deleted") {
			errs = append(errs, fmt.Errorf("conntrack %s: %w", strings.Join(args, " "), err))
		}
	}
	return errors.Join(errs...)
}
