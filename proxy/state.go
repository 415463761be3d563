package proxy

import (
	"net/netip"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// BuildState turns Services and their EndpointSlices into the State a
// proxier programs. It keeps IPv4 service ports with a cluster IP (headless
// and ExternalName services are not proxied) and, for each, the ready,
// non-terminating IPv4 endpoints of the slices labelled with the service's
// name whose port has the same name and protocol.
func BuildState(services []*v1.Service, endpointSlices []*discoveryv1.EndpointSlice) *State {
	type svcKey struct{ ns, name string }
	bySvc := make(map[svcKey][]*discoveryv1.EndpointSlice)
	for _, s := range endpointSlices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		k := svcKey{s.Namespace, name}
		bySvc[k] = append(bySvc[k], s)
	}

	var out []*ServicePort
	for _, svc := range services {
		clusterIP, ok := serviceClusterIP(svc)
		if !ok {
			continue
		}
		var affinity time.Duration
		if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
			affinity = time.Duration(v1.DefaultClientIPServiceAffinitySeconds) * time.Second
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		var externalIPs []netip.Addr
		for _, s := range svc.Spec.ExternalIPs {
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				externalIPs = append(externalIPs, a)
			}
		}
		for _, p := range svc.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			sp := &ServicePort{
				Name:            ServicePortName{Namespace: svc.Namespace, Name: svc.Name, Port: p.Name, Protocol: proto},
				ClusterIP:       clusterIP,
				Port:            p.Port,
				AffinityTimeout: affinity,
				ExternalIPs:     append([]netip.Addr(nil), externalIPs...),
			}
			if svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer {
				sp.NodePort = p.NodePort
			}
			sp.Endpoints = endpointsFor(bySvc[svcKey{svc.Namespace, svc.Name}], p.Name, proto)
			out = append(out, sp)
		}
	}
	return NewState(out...)
}

func serviceClusterIP(svc *v1.Service) (netip.Addr, bool) {
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return netip.Addr{}, false
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func endpointsFor(slices []*discoveryv1.EndpointSlice, portName string, proto v1.Protocol) []Endpoint {
	var eps []Endpoint
	for _, s := range slices {
		for _, sp := range s.Ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			p := v1.ProtocolTCP
			if sp.Protocol != nil {
				p = *sp.Protocol
			}
			if name != portName || p != proto || sp.Port == nil {
				continue
			}
			for _, ep := range s.Endpoints {
				// A nil ready condition means unknown, which consumers
				// treat as ready.
				if c := ep.Conditions; (c.Ready != nil && !*c.Ready) || (c.Terminating != nil && *c.Terminating) {
					continue
				}
				node := ""
				if ep.NodeName != nil {
					node = *ep.NodeName
				}
				for _, a := range ep.Addresses {
					addr, err := netip.ParseAddr(a)
					if err != nil || !addr.Is4() {
						continue
					}
					eps = append(eps, Endpoint{Addr: addr, Port: *sp.Port, NodeName: node})
				}
			}
		}
	}
	return eps
}
