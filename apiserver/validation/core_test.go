package validation

import (
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// cases runs table-driven create or update cases on copies of a valid
// object made by valid.
type testCase[T any] struct {
	name   string
	mutate func(T)
	want   []want
}

func runCreate[T interface {
	*E
	runtimeObject
}, E any](t *testing.T, valid func() T, cases []testCase[T]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			obj := valid()
			tt.mutate(obj)
			checkErrs(t, Validate(obj), tt.want...)
		})
	}
}

// runUpdate validates the mutated copy of a valid object as an update of
// the original; status selects ValidateStatusUpdate.
func runUpdate[T interface {
	*E
	runtimeObject
}, E any](t *testing.T, valid func() T, status bool, cases []testCase[T]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			old := valid()
			obj := old.DeepCopyObject().(T)
			tt.mutate(obj)
			if status {
				checkErrs(t, ValidateStatusUpdate(obj, old), tt.want...)
			} else {
				checkErrs(t, ValidateUpdate(obj, old), tt.want...)
			}
		})
	}
}

func TestNode(t *testing.T) {
	runCreate(t, validNode, []testCase[*corev1.Node]{
		{"valid", func(*corev1.Node) {}, nil},
		{"namespace is forbidden", func(n *corev1.Node) { n.Namespace = "default" }, []want{forbidden("metadata.namespace")}},
		{"bad name", func(n *corev1.Node) { n.Name = "Node 1" }, []want{invalid("metadata.name")}},
		{"taint without effect", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }, []want{required("spec.taints[0].effect")}},
		{"taint bad effect", func(n *corev1.Node) { n.Spec.Taints[0].Effect = "Evict" }, []want{notSupported("spec.taints[0].effect")}},
		{"taint bad key", func(n *corev1.Node) { n.Spec.Taints[0].Key = "bad key" }, []want{invalid("spec.taints[0].key")}},
		{"duplicate taint", func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) }, []want{duplicate("spec.taints[1]")}},
		{"bad pod CIDR", func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.1.0/33", []string{"10.244.1.0/33"} }, []want{invalid("spec.podCIDRs[0]")}},
		{"two IPv4 pod CIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = append(n.Spec.PodCIDRs, "10.245.1.0/24") }, []want{invalid("spec.podCIDRs")}},
		{"dual-stack pod CIDRs", func(n *corev1.Node) { n.Spec.PodCIDRs = append(n.Spec.PodCIDRs, "fd00:1::/64") }, nil},
		{"negative capacity", func(n *corev1.Node) { n.Status.Capacity[corev1.ResourceMemory] = resource.MustParse("-1Gi") }, []want{invalid("status.capacity[memory]")}},
	})
	runUpdate(t, validNode, false, []testCase[*corev1.Node]{
		{"unschedulable may change", func(n *corev1.Node) { n.Spec.Unschedulable = true }, nil},
		{"pod CIDR may not change", func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"} }, []want{forbidden("spec.podCIDRs")}},
		{"providerID may be set once", func(n *corev1.Node) { n.Spec.ProviderID = "gantry://node-1" }, nil},
	})
}

func TestNamespace(t *testing.T) {
	valid := func() *corev1.Namespace {
		return withDefaults(&corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "1"},
			Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		})
	}
	runCreate(t, valid, []testCase[*corev1.Namespace]{
		{"valid", func(*corev1.Namespace) {}, nil},
		{"name must be a label", func(ns *corev1.Namespace) { ns.Name = "team.a" }, []want{invalid("metadata.name")}},
		{"namespace is forbidden", func(ns *corev1.Namespace) { ns.Namespace = "default" }, []want{forbidden("metadata.namespace")}},
		{"bad finalizer", func(ns *corev1.Namespace) { ns.Spec.Finalizers = []corev1.FinalizerName{"mine"} }, []want{invalid("spec.finalizers[0]")}},
	})
	runUpdate(t, valid, false, []testCase[*corev1.Namespace]{
		{"labels may change", func(ns *corev1.Namespace) { ns.Labels["team"] = "a" }, nil},
		{"name is immutable", func(ns *corev1.Namespace) { ns.Name = "team-b" }, []want{invalid("metadata.name")}},
	})
	runUpdate(t, valid, true, []testCase[*corev1.Namespace]{
		{"active", func(*corev1.Namespace) {}, nil},
		{"terminating without deletion", func(ns *corev1.Namespace) { ns.Status.Phase = corev1.NamespaceTerminating }, []want{invalid("status.phase")}},
	})
}

func TestService(t *testing.T) {
	sp := "spec.ports"
	runCreate(t, validService, []testCase[*corev1.Service]{
		{"valid", func(*corev1.Service) {}, nil},
		{"name must be a DNS label", func(s *corev1.Service) { s.Name = "web.svc" }, []want{invalid("metadata.name")}},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, []want{required(sp)}},
		{"headless without ports", func(s *corev1.Service) {
			s.Spec.Ports, s.Spec.ClusterIP, s.Spec.ClusterIPs = nil, corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, nil},
		{"ExternalName without ports", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com.", SessionAffinity: corev1.ServiceAffinityNone}
		}, nil},
		{"ExternalName without name", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, SessionAffinity: corev1.ServiceAffinityNone}
		}, []want{required("spec.externalName")}},
		{"ExternalName with cluster IP", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.InternalTrafficPolicy = corev1.ServiceTypeExternalName, "db.example.com", nil
		}, []want{forbidden("spec.clusterIPs")}},
		{"unnamed port among several", func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }, []want{required(sp + "[1].name")}},
		{"single unnamed port", func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[:1]; s.Spec.Ports[0].Name = "" }, nil},
		{"duplicate port name", func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }, []want{duplicate(sp + "[1].name")}},
		{"bad port name", func(s *corev1.Service) { s.Spec.Ports[1].Name = "HTTPS" }, []want{invalid(sp + "[1].name")}},
		{"port 0", func(s *corev1.Service) { s.Spec.Ports[1].Port, s.Spec.Ports[1].TargetPort = 0, intstrNum(443) }, []want{invalid(sp + "[1].port")}},
		{"duplicate port", func(s *corev1.Service) { s.Spec.Ports[1].Port = 80 }, []want{duplicate(sp + "[1]")}},
		{"same port other protocol", func(s *corev1.Service) { s.Spec.Ports[1].Port, s.Spec.Ports[1].Protocol = 80, corev1.ProtocolUDP }, nil},
		{"bad targetPort", func(s *corev1.Service) { s.Spec.Ports[1].TargetPort = intstrNum(70000) }, []want{invalid(sp + "[1].targetPort")}},
		{"bad named targetPort", func(s *corev1.Service) { s.Spec.Ports[1].TargetPort = intstrName("a_b") }, []want{invalid(sp + "[1].targetPort")}},
		{"bad protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, []want{notSupported(sp + "[0].protocol")}},
		{"nodePort on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, []want{forbidden(sp + "[0].nodePort")}},
		{"NodePort service", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort = 30080, 30443
		}, nil},
		{"duplicate nodePort", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort = 30080, 30080
		}, []want{duplicate(sp + "[1].nodePort")}},
		{"bad nodePort", func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 70000
		}, []want{invalid(sp + "[0].nodePort")}},
		{"NodePort without externalTrafficPolicy", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }, []want{required("spec.externalTrafficPolicy")}},
		{"externalTrafficPolicy on ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }, []want{invalid("spec.externalTrafficPolicy")}},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Ingress" }, []want{notSupported("spec.type")}},
		{"bad cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0", []string{"10.96.0"} }, []want{invalid("spec.clusterIPs[0]")}},
		{"clusterIPs disagree", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} }, []want{invalid("spec.clusterIPs")}},
		{"dual-stack cluster IPs", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00:10:96::a"} }, nil},
		{"two IPv4 cluster IPs", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10", "10.96.0.11"} }, []want{invalid("spec.clusterIPs[1]")}},
		{"headless NodePort", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			s.Spec.Type, s.Spec.ExternalTrafficPolicy = corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster
		}, []want{invalid("spec.clusterIPs[0]")}},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }, []want{invalid("spec.selector")}},
		{"bad session affinity", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, []want{notSupported("spec.sessionAffinity")}},
		{"ClientIP affinity timeout too long", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr[int32](100000)}}
		}, []want{invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds")}},
		{"bad external IP", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"1.2.3"} }, []want{invalid("spec.externalIPs[0]")}},
		{"load balancer source ranges on ClusterIP", func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} }, []want{forbidden("spec.loadBalancerSourceRanges")}},
		{"bad internalTrafficPolicy", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr[corev1.ServiceInternalTrafficPolicy]("Node")
		}, []want{notSupported("spec.internalTrafficPolicy")}},
		{"bad IP family", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} }, []want{notSupported("spec.ipFamilies[0]")}},
	})
	runUpdate(t, validService, false, []testCase[*corev1.Service]{
		{"selector may change", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web2"} }, nil},
		{"clusterIP is immutable", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"} }, []want{invalid("spec.clusterIP")}},
		{"ports may change", func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[:1] }, nil},
	})
	runUpdate(t, validService, true, []testCase[*corev1.Service]{
		{"load balancer ingress", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "lb.example.com"}}
		}, nil},
		{"bad ingress IP", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113"}}
		}, []want{invalid("status.loadBalancer.ingress[0].ip")}},
		{"IP as ingress hostname", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "203.0.113.7"}}
		}, []want{invalid("status.loadBalancer.ingress[0].hostname")}},
	})
}

func TestEndpoints(t *testing.T) {
	ss := "subsets[0]"
	runCreate(t, validEndpoints, []testCase[*corev1.Endpoints]{
		{"valid", func(*corev1.Endpoints) {}, nil},
		{"no subsets", func(e *corev1.Endpoints) { e.Subsets = nil }, nil},
		{"subset without addresses", func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil }, []want{required(ss)}},
		{"subset without ports", func(e *corev1.Endpoints) { e.Subsets[0].Ports = nil }, []want{required(ss + ".ports")}},
		{"bad address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "10.244.1" }, []want{invalid(ss + ".addresses[0].ip")}},
		{"loopback address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "127.0.0.1" }, []want{invalid(ss + ".addresses[0].ip")}},
		{"bad node name", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].NodeName = ptr("Node 1") }, []want{invalid(ss + ".addresses[0].nodeName")}},
		{"unnamed port among several", func(e *corev1.Endpoints) { e.Subsets[0].Ports[1].Name = "" }, []want{required(ss + ".ports[1].name")}},
		{"duplicate port name", func(e *corev1.Endpoints) { e.Subsets[0].Ports[1].Name = "http" }, []want{duplicate(ss + ".ports[1].name")}},
		{"bad port", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 }, []want{invalid(ss + ".ports[0].port")}},
		{"bad protocol", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Protocol = "ICMP" }, []want{notSupported(ss + ".ports[0].protocol")}},
	})
	runUpdate(t, validEndpoints, false, []testCase[*corev1.Endpoints]{
		{"addresses may change", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "10.244.1.6" }, nil},
		{"bad new address", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "0.0.0.0" }, []want{invalid(ss + ".addresses[0].ip")}},
	})
}

func TestEndpointSlice(t *testing.T) {
	runCreate(t, validSlice, []testCase[*discoveryv1.EndpointSlice]{
		{"valid", func(*discoveryv1.EndpointSlice) {}, nil},
		{"no address type", func(e *discoveryv1.EndpointSlice) { e.AddressType = "" }, []want{required("addressType")}},
		{"bad address type", func(e *discoveryv1.EndpointSlice) { e.AddressType = "IPv5" }, []want{notSupported("addressType")}},
		{"endpoint without addresses", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = nil }, []want{required("endpoints[0].addresses")}},
		{"IPv6 address in an IPv4 slice", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"fd00::5"} }, []want{invalid("endpoints[0].addresses[0]")}},
		{"bad FQDN", func(e *discoveryv1.EndpointSlice) {
			e.AddressType, e.Endpoints[0].Addresses = discoveryv1.AddressTypeFQDN, []string{"Not A Name"}
		}, []want{invalid("endpoints[0].addresses[0]")}},
		{"too many endpoints", func(e *discoveryv1.EndpointSlice) {
			for range 1000 {
				e.Endpoints = append(e.Endpoints, e.Endpoints[0])
			}
		}, []want{tooMany("endpoints")}},
		{"duplicate port name", func(e *discoveryv1.EndpointSlice) { e.Ports = append(e.Ports, e.Ports[0]) }, []want{duplicate("ports[1].name")}},
		{"bad port name", func(e *discoveryv1.EndpointSlice) { e.Ports[0].Name = ptr("HTTP") }, []want{invalid("ports[0].name")}},
		{"no protocol", func(e *discoveryv1.EndpointSlice) { e.Ports[0].Protocol = nil }, []want{required("ports[0].protocol")}},
		{"bad hostname", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Hostname = ptr("a.b") }, []want{invalid("endpoints[0].hostname")}},
	})
	runUpdate(t, validSlice, false, []testCase[*discoveryv1.EndpointSlice]{
		{"endpoints may change", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"10.244.1.6"} }, nil},
		{"address type is immutable", func(e *discoveryv1.EndpointSlice) {
			e.AddressType, e.Endpoints[0].Addresses = discoveryv1.AddressTypeIPv6, []string{"fd00::5"}
		}, []want{invalid("addressType")}},
	})
}

func TestConfigMap(t *testing.T) {
	valid := func() *corev1.ConfigMap {
		return withDefaults(&corev1.ConfigMap{ObjectMeta: meta("cfg"), Data: map[string]string{"app.conf": "x=1"}, BinaryData: map[string][]byte{"logo.png": {1, 2}}})
	}
	runCreate(t, valid, []testCase[*corev1.ConfigMap]{
		{"valid", func(*corev1.ConfigMap) {}, nil},
		{"bad key", func(c *corev1.ConfigMap) { c.Data["a/b"] = "" }, []want{invalid("data[a/b]")}},
		{"bad binary key", func(c *corev1.ConfigMap) { c.BinaryData["a b"] = nil }, []want{invalid("binaryData[a b]")}},
		{"key in both", func(c *corev1.ConfigMap) { c.Data["logo.png"] = "" }, []want{invalid("data[logo.png]"), invalid("binaryData[logo.png]")}},
		{"too large", func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", MaxDataSize) }, []want{tooLong("[]")}},
	})
	runUpdate(t, valid, false, []testCase[*corev1.ConfigMap]{
		{"data may change", func(c *corev1.ConfigMap) { c.Data["app.conf"] = "x=2" }, nil},
	})
	immutableCM := func() *corev1.ConfigMap { c := valid(); c.Immutable = ptr(true); return c }
	runUpdate(t, immutableCM, false, []testCase[*corev1.ConfigMap]{
		{"labels of an immutable config map may change", func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }, nil},
		{"data of an immutable config map may not change", func(c *corev1.ConfigMap) { c.Data["app.conf"] = "x=2" }, []want{forbidden("data")}},
		{"immutable may not be unset", func(c *corev1.ConfigMap) { c.Immutable = nil }, []want{forbidden("immutable")}},
	})
}

func TestSecret(t *testing.T) {
	valid := func() *corev1.Secret {
		return withDefaults(&corev1.Secret{ObjectMeta: meta("creds"), Data: map[string][]byte{"password": []byte("s3cret")}})
	}
	runCreate(t, valid, []testCase[*corev1.Secret]{
		{"valid", func(*corev1.Secret) {}, nil},
		{"bad key", func(s *corev1.Secret) { s.Data["a:b"] = nil }, []want{invalid("data[a:b]")}},
		{"too large", func(s *corev1.Secret) { s.Data["big"] = make([]byte, MaxDataSize) }, []want{tooLong("data")}},
		{"TLS without key", func(s *corev1.Secret) {
			s.Type, s.Data = corev1.SecretTypeTLS, map[string][]byte{corev1.TLSCertKey: []byte("cert")}
		}, []want{required("data[tls.key]")}},
		{"docker config not JSON", func(s *corev1.Secret) {
			s.Type, s.Data = corev1.SecretTypeDockerConfigJson, map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}
		}, []want{invalid("data[.dockerconfigjson]")}},
		{"service account token without account", func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken }, []want{required("metadata.annotations[kubernetes.io/service-account.name]")}},
	})
	runUpdate(t, valid, false, []testCase[*corev1.Secret]{
		{"data may change", func(s *corev1.Secret) { s.Data["password"] = []byte("new") }, nil},
		{"type is immutable", func(s *corev1.Secret) { s.Type = "example.com/other" }, []want{invalid("type")}},
	})
}

func TestServiceAccount(t *testing.T) {
	valid := func() *corev1.ServiceAccount {
		return withDefaults(&corev1.ServiceAccount{ObjectMeta: meta("builder"), ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}}})
	}
	runCreate(t, valid, []testCase[*corev1.ServiceAccount]{
		{"valid", func(*corev1.ServiceAccount) {}, nil},
		{"bad name", func(sa *corev1.ServiceAccount) { sa.Name = "Builder" }, []want{invalid("metadata.name")}},
		{"bad pull secret name", func(sa *corev1.ServiceAccount) { sa.ImagePullSecrets[0].Name = "Registry" }, []want{invalid("imagePullSecrets[0].name")}},
	})
	runUpdate(t, valid, false, []testCase[*corev1.ServiceAccount]{
		{"secrets may change", func(sa *corev1.ServiceAccount) { sa.Secrets = []corev1.ObjectReference{{Name: "token"}} }, nil},
	})
}

func TestEvent(t *testing.T) {
	valid := func() *corev1.Event {
		return withDefaults(&corev1.Event{
			ObjectMeta:     meta("web-1.17a3b"),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-1"},
			Reason:         "Scheduled", Message: "assigned to node-1", Type: corev1.EventTypeNormal, Count: 1,
		})
	}
	runCreate(t, valid, []testCase[*corev1.Event]{
		{"valid", func(*corev1.Event) {}, nil},
		{"no involved object", func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{} }, []want{required("involvedObject")}},
		{"involved object in another namespace", func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }, []want{invalid("involvedObject.namespace")}},
		{"cluster-scoped object in default", func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1"} }, nil},
		{"cluster-scoped object elsewhere", func(e *corev1.Event) {
			e.Namespace, e.InvolvedObject = "kube-system", corev1.ObjectReference{Kind: "Node", Name: "node-1"}
		}, []want{invalid("involvedObject.namespace")}},
		{"no namespace", func(e *corev1.Event) { e.Namespace, e.InvolvedObject.Namespace = "", "" }, []want{required("metadata.namespace")}},
	})
	runUpdate(t, valid, false, []testCase[*corev1.Event]{
		{"count may change", func(e *corev1.Event) { e.Count = 2 }, nil},
	})
}

func TestLease(t *testing.T) {
	runCreate(t, validLease, []testCase[*coordinationv1.Lease]{
		{"valid", func(*coordinationv1.Lease) {}, nil},
		{"zero duration", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr[int32](0) }, []want{invalid("spec.leaseDurationSeconds")}},
		{"negative transitions", func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr[int32](-1) }, []want{invalid("spec.leaseTransitions")}},
		{"no namespace", func(l *coordinationv1.Lease) { l.Namespace = "" }, []want{required("metadata.namespace")}},
	})
	runUpdate(t, validLease, false, []testCase[*coordinationv1.Lease]{
		{"renew", func(l *coordinationv1.Lease) { l.Spec.RenewTime = ptr(metav1.NewMicroTime(metav1.Now().Time)) }, nil},
		{"bad new duration", func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr[int32](-1) }, []want{invalid("spec.leaseDurationSeconds")}},
	})
}

func TestValidateScale(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		want     []want
	}{
		{"zero", 0, nil},
		{"three", 3, nil},
		{"negative", -1, []want{invalid("spec.replicas")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &autoscalingv1.Scale{ObjectMeta: meta("web"), Spec: autoscalingv1.ScaleSpec{Replicas: tt.replicas}}
			checkErrs(t, ValidateScale(s), tt.want...)
			checkErrs(t, Validate(s), tt.want...)
		})
	}
}

func TestValidateBinding(t *testing.T) {
	tests := []struct {
		name   string
		target corev1.ObjectReference
		want   []want
	}{
		{"node", corev1.ObjectReference{Kind: "Node", Name: "node-1"}, nil},
		{"empty kind", corev1.ObjectReference{Name: "node-1"}, nil},
		{"no name", corev1.ObjectReference{Kind: "Node"}, []want{required("target.name")}},
		{"not a node", corev1.ObjectReference{Kind: "Pod", Name: "web-1"}, []want{notSupported("target.kind")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &corev1.Binding{ObjectMeta: meta("web-1"), Target: tt.target}
			checkErrs(t, ValidateBinding(b), tt.want...)
			checkErrs(t, Validate(b), tt.want...)
		})
	}
}

func TestDispatch(t *testing.T) {
	t.Run("unknown type passes", func(t *testing.T) {
		checkErrs(t, Validate(&corev1.PersistentVolume{}))
		if Known(&corev1.PersistentVolume{}) {
			t.Error("Known(PersistentVolume) = true")
		}
	})
	t.Run("nil passes", func(t *testing.T) {
		checkErrs(t, Validate(nil))
		checkErrs(t, Validate((*corev1.Pod)(nil)))
		checkErrs(t, ValidateUpdate((*corev1.Pod)(nil), validPod()))
	})
	t.Run("update across types", func(t *testing.T) {
		checkErrs(t, ValidateUpdate(validPod(), validService()), want{field.ErrorTypeInternal, "<nil>"})
	})
	t.Run("rules", func(t *testing.T) {
		for _, tt := range []struct {
			obj        runtimeObject
			namespaced bool
		}{
			{&corev1.Pod{}, true}, {&corev1.Node{}, false}, {&corev1.Namespace{}, false}, {&coordinationv1.Lease{}, true},
		} {
			r, ok := Rules(tt.obj)
			if !ok || r.Namespaced != tt.namespaced {
				t.Errorf("Rules(%T) = %+v, %v", tt.obj, r, ok)
			}
		}
	})
}
