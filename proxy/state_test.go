package proxy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func service(name string, mutate func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.ServiceSpec{
			Type: v1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}},
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func slice(svc, name string, port string, portNum int32, proto v1.Protocol, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(port), Port: ptr.To(portNum), Protocol: ptr.To(proto)}},
		Endpoints:   eps,
	}
}

func endpoint(addr string, ready *bool, terminating *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{addr}, NodeName: ptr.To("n1"),
		Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
}

func TestBuildState(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, tc := range []struct {
		name     string
		services []*v1.Service
		slices   []*discoveryv1.EndpointSlice
		want     []*ServicePort
	}{{
		name:     "ready endpoints across slices, sorted",
		services: []*v1.Service{service("web", nil)},
		slices: []*discoveryv1.EndpointSlice{
			slice("web", "web-b", "http", 8080, v1.ProtocolTCP, endpoint("10.244.2.2", ptr.To(true), nil)),
			slice("web", "web-a", "http", 8080, v1.ProtocolTCP,
				endpoint("10.244.1.1", nil, nil),                    // unknown readiness counts as ready
				endpoint("10.244.1.9", ptr.To(false), nil),          // not ready
				endpoint("10.244.1.8", ptr.To(true), ptr.To(true))), // terminating
			slice("other", "other-a", "http", 8080, v1.ProtocolTCP, endpoint("10.244.9.9", nil, nil)),
		},
		want: []*ServicePort{{
			Name:      ServicePortName{"default", "web", "http", v1.ProtocolTCP},
			ClusterIP: a("10.96.0.10"), Port: 80,
			Endpoints: []Endpoint{{a("10.244.1.1"), 8080, "n1"}, {a("10.244.2.2"), 8080, "n1"}},
		}},
	}, {
		name: "ports matched by name and protocol; node ports; affinity; external IPs",
		services: []*v1.Service{service("dns", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports = []v1.ServicePort{
				{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP, NodePort: 30053},
				{Name: "dns-tcp", Port: 53, Protocol: v1.ProtocolTCP, NodePort: 30054},
			}
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
			s.Spec.ExternalIPs = []string{"198.51.100.2", "198.51.100.1", "2001:db8::1"}
		})},
		slices: []*discoveryv1.EndpointSlice{
			slice("dns", "dns-udp", "dns", 5353, v1.ProtocolUDP, endpoint("10.244.1.1", nil, nil)),
		},
		want: []*ServicePort{{
			Name:      ServicePortName{"default", "dns", "dns", v1.ProtocolUDP},
			ClusterIP: a("10.96.0.10"), Port: 53, NodePort: 30053, AffinityTimeout: time.Minute,
			ExternalIPs: []netip.Addr{a("198.51.100.1"), a("198.51.100.2")},
			Endpoints:   []Endpoint{{a("10.244.1.1"), 5353, "n1"}},
		}, {
			Name:      ServicePortName{"default", "dns", "dns-tcp", v1.ProtocolTCP},
			ClusterIP: a("10.96.0.10"), Port: 53, NodePort: 30054, AffinityTimeout: time.Minute,
			ExternalIPs: []netip.Addr{a("198.51.100.1"), a("198.51.100.2")},
		}},
	}, {
		name: "headless, ExternalName and IPv6-only services are not proxied",
		services: []*v1.Service{
			service("headless", func(s *v1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = v1.ClusterIPNone, []string{v1.ClusterIPNone}
			}),
			service("ext", func(s *v1.Service) {
				s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.ExternalName = v1.ServiceTypeExternalName, "", nil, "example.com"
			}),
			service("v6", func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "fd00::10", []string{"fd00::10"} }),
		},
	}, {
		name: "default affinity timeout is three hours; ClusterIP type ignores stale node ports",
		services: []*v1.Service{service("sticky", func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.Ports[0].NodePort = 31000
		})},
		want: []*ServicePort{{
			Name:      ServicePortName{"default", "sticky", "http", v1.ProtocolTCP},
			ClusterIP: a("10.96.0.10"), Port: 80, AffinityTimeout: 3 * time.Hour,
		}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := BuildState(tc.services, tc.slices)
			if len(got.Services) != len(tc.want) {
				t.Fatalf("got %d service ports, want %d: %+v", len(got.Services), len(tc.want), got.Services)
			}
			for i, w := range tc.want {
				if !got.Services[i].Equal(w) {
					t.Errorf("service port %d:\n got %+v\nwant %+v", i, got.Services[i], w)
				}
			}
		})
	}
}

func TestDiff(t *testing.T) {
	sp := func(name string, port int32) *ServicePort {
		return &ServicePort{Name: ServicePortName{Namespace: "ns", Name: name, Protocol: v1.ProtocolTCP}, ClusterIP: netip.MustParseAddr("10.0.0.1"), Port: port}
	}
	prev := NewState(sp("a", 1), sp("b", 1), sp("c", 1))
	next := NewState(sp("b", 2), sp("c", 1), sp("d", 1))
	changed, removed := Diff(prev, next)
	var names []string
	for _, c := range changed {
		names = append(names, c.Name.Name)
	}
	if len(names) != 2 || names[0] != "b" || names[1] != "d" {
		t.Errorf("changed = %v, want [b d]", names)
	}
	if len(removed) != 1 || removed[0].Name != "a" {
		t.Errorf("removed = %v, want [a]", removed)
	}
	if c, r := Diff(next, next); len(c)+len(r) != 0 {
		t.Errorf("Diff of a state with itself: %v %v", c, r)
	}
	if c, _ := Diff(nil, next); len(c) != 3 {
		t.Errorf("Diff from nil: %d changed, want 3", len(c))
	}
	if got := next.Lookup(ServicePortName{Namespace: "ns", Name: "c", Protocol: v1.ProtocolTCP}); got == nil || got.Name.Name != "c" {
		t.Errorf("Lookup(c) = %v", got)
	}
	if got := next.Lookup(ServicePortName{Namespace: "ns", Name: "zz"}); got != nil {
		t.Errorf("Lookup(zz) = %v, want nil", got)
	}
}

func TestStaleUDPFlows(t *testing.T) {
	a := netip.MustParseAddr
	dns := func(eps ...Endpoint) *ServicePort {
		return &ServicePort{
			Name:      ServicePortName{Namespace: "kube-system", Name: "dns", Protocol: v1.ProtocolUDP},
			ClusterIP: a("10.96.0.10"), Port: 53, NodePort: 30053, ExternalIPs: []netip.Addr{a("198.51.100.1")},
			Endpoints: eps,
		}
	}
	web := &ServicePort{Name: ServicePortName{Namespace: "default", Name: "web", Protocol: v1.ProtocolTCP}, ClusterIP: a("10.96.0.20"), Port: 80}
	e1, e2 := Endpoint{Addr: a("10.244.1.1"), Port: 53}, Endpoint{Addr: a("10.244.2.2"), Port: 53}
	for _, tc := range []struct {
		name       string
		prev, next *State
		want       [][]string
	}{
		{"no previous state", nil, NewState(dns(e1)), nil},
		{"unchanged", NewState(dns(e1, e2), web), NewState(dns(e1, e2), web), nil},
		{"endpoint gone: its flows to every address of the service", NewState(dns(e1, e2)), NewState(dns(e2)), [][]string{
			{"--orig-dst", "10.96.0.10", "--dst-nat", "10.244.1.1"},
			{"--orig-dst", "198.51.100.1", "--dst-nat", "10.244.1.1"},
			{"--orig-port-dst", "30053", "--dst-nat", "10.244.1.1"},
		}},
		{"first endpoints: flows rejected before", NewState(dns()), NewState(dns(e1)), [][]string{
			{"--orig-dst", "10.96.0.10", "--orig-port-dst", "53"},
			{"--orig-port-dst", "30053"},
		}},
		{"TCP services are left alone", NewState(web), NewState(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := StaleUDPFlows(tc.prev, tc.next)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("StaleUDPFlows = %v\nwant %v", got, tc.want)
			}
		})
	}
}
