package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedServiceTypes = []corev1.ServiceType{
		corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName,
	}
	supportedAffinities  = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedExtPolicies = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	supportedIntPolicies = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	supportedIPFamilies  = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	supportedFamilyPols  = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack}
)

// The range of spec.sessionAffinityConfig.clientIP.timeoutSeconds.
const maxClientIPTimeout = 86400

// Service validates a service about to be created: metadata (DNS-1123
// label name); type; ports (required unless the service is headless or
// ExternalName; names DNS-1123 labels, required and unique when there are
// several; port, targetPort and nodePort valid; protocol TCP, UDP or SCTP;
// no duplicate port/protocol or nodePort/protocol pairs; no nodePort for
// ClusterIP services); clusterIP and clusterIPs ("None" or valid IPs,
// clusterIPs[0] == clusterIP, one per family); selector labels; session
// affinity; traffic policies; external IPs; load balancer fields; IP
// families. Allocating IPs and node ports is the API server's job.
func Service(svc *corev1.Service) field.ErrorList {
	errs := ObjectMeta(&svc.ObjectMeta, NamespacedLabel, field.NewPath("metadata"))
	return append(errs, serviceSpec(svc)...)
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

func serviceSpec(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	sp := field.NewPath("spec")

	switch {
	case spec.Type == "":
		errs = append(errs, field.Required(sp.Child("type"), ""))
	case !slices.Contains(supportedServiceTypes, spec.Type):
		errs = append(errs, field.NotSupported(sp.Child("type"), spec.Type, supportedServiceTypes))
	}

	if spec.Type == corev1.ServiceTypeExternalName {
		const msg = "may not be set for ExternalName services"
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("clusterIPs"), msg))
		} else if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(sp.Child("clusterIP"), msg))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("ipFamilies"), msg))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(sp.Child("ipFamilyPolicy"), msg))
		}
		// A trailing dot marks the name as fully qualified.
		if cname := strings.TrimSuffix(spec.ExternalName, "."); cname == "" {
			errs = append(errs, field.Required(sp.Child("externalName"), ""))
		} else {
			errs = append(errs, dnsSubdomain(cname, sp.Child("externalName"))...)
		}
	} else {
		errs = append(errs, clusterIPs(svc, sp)...)
	}

	pp := sp.Child("ports")
	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(pp, ""))
	}
	names := map[string]bool{}
	type portKey struct {
		proto corev1.Protocol
		port  int32
	}
	ports, nodePorts := map[portKey]bool{}, map[portKey]bool{}
	for i := range spec.Ports {
		port := &spec.Ports[i]
		ip := pp.Index(i)
		errs = append(errs, servicePort(port, len(spec.Ports) > 1, isHeadless(svc), names, ip)...)
		if port.NodePort != 0 {
			if spec.Type == corev1.ServiceTypeClusterIP {
				errs = append(errs, field.Forbidden(ip.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
			k := portKey{port.Protocol, port.NodePort}
			if nodePorts[k] {
				errs = append(errs, field.Duplicate(ip.Child("nodePort"), port.NodePort))
			}
			nodePorts[k] = true
		}
		k := portKey{port.Protocol, port.Port}
		if ports[k] {
			errs = append(errs, field.Duplicate(ip, fmt.Sprintf("%d/%s", port.Port, port.Protocol)))
		}
		ports[k] = true
	}

	errs = append(errs, metav1validation.ValidateLabels(spec.Selector, sp.Child("selector"))...)

	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(sp.Child("sessionAffinityConfig"), fmt.Sprintf("must not be set when session affinity is %s", corev1.ServiceAffinityNone)))
		}
	case corev1.ServiceAffinityClientIP:
		tp := sp.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds")
		c := spec.SessionAffinityConfig
		if c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			errs = append(errs, field.Required(tp, "when session affinity type is ClientIP"))
		} else if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPTimeout {
			errs = append(errs, field.Invalid(tp, t, fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPTimeout)))
		}
	case "":
		errs = append(errs, field.Required(sp.Child("sessionAffinity"), ""))
	default:
		errs = append(errs, field.NotSupported(sp.Child("sessionAffinity"), spec.SessionAffinity, supportedAffinities))
	}

	for i, e := range spec.ExternalIPs {
		ep := sp.Child("externalIPs").Index(i)
		if e == "0.0.0.0" || e == "::" {
			errs = append(errs, field.Invalid(ep, e, "may not be unspecified (0.0.0.0, ::)"))
			continue
		}
		errs = append(errs, ip(e, ep)...)
	}

	errs = append(errs, trafficPolicies(svc, sp)...)
	errs = append(errs, loadBalancerFields(svc, sp)...)
	return errs
}

func servicePort(port *corev1.ServicePort, nameRequired, headless bool, names map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	np := p.Child("name")
	if port.Name == "" {
		if nameRequired {
			errs = append(errs, field.Required(np, ""))
		}
	} else {
		errs = append(errs, dnsLabel(port.Name, np)...)
		if names[port.Name] {
			errs = append(errs, field.Duplicate(np, port.Name))
		}
		names[port.Name] = true
	}
	errs = append(errs, portNum(port.Port, p.Child("port"))...)
	errs = append(errs, protocol(port.Protocol, p.Child("protocol"))...)
	errs = append(errs, portNumOrName(port.TargetPort, p.Child("targetPort"))...)
	if port.NodePort != 0 {
		errs = append(errs, portNum(port.NodePort, p.Child("nodePort"))...)
	}
	if port.AppProtocol != nil {
		errs = append(errs, qualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
	}
	return errs
}

// clusterIPs checks clusterIP and clusterIPs of a non-ExternalName service.
func clusterIPs(svc *corev1.Service, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	cp := sp.Child("clusterIPs")
	switch {
	case spec.ClusterIP == "" && len(spec.ClusterIPs) > 0:
		errs = append(errs, field.Invalid(cp, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	case spec.ClusterIP != "" && (len(spec.ClusterIPs) == 0 || spec.ClusterIPs[0] != spec.ClusterIP):
		errs = append(errs, field.Invalid(cp, spec.ClusterIPs, "first value must match `clusterIP`"))
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(cp, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	for i, v := range spec.ClusterIPs {
		if v == corev1.ClusterIPNone {
			if i != 0 || len(spec.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(cp.Index(i), v, "'None' must be the first and only value"))
			}
			continue
		}
		errs = append(errs, ip(v, cp.Index(i))...)
	}
	if len(spec.ClusterIPs) == 2 && spec.ClusterIPs[1] != corev1.ClusterIPNone &&
		isIPv6(spec.ClusterIPs[0]) == isIPv6(spec.ClusterIPs[1]) {
		errs = append(errs, field.Invalid(cp.Index(1), spec.ClusterIPs[1], "may not have the same family as `clusterIPs[0]`"))
	}
	if isHeadless(svc) && (spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer) {
		errs = append(errs, field.Invalid(cp.Index(0), spec.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
	}

	fp := sp.Child("ipFamilies")
	if len(spec.IPFamilies) > 2 {
		errs = append(errs, field.Invalid(fp, spec.IPFamilies, "may only hold up to 2 values"))
	}
	seen := map[corev1.IPFamily]bool{}
	for i, f := range spec.IPFamilies {
		if !slices.Contains(supportedIPFamilies, f) {
			errs = append(errs, field.NotSupported(fp.Index(i), f, supportedIPFamilies))
		} else if seen[f] {
			errs = append(errs, field.Duplicate(fp.Index(i), f))
		}
		seen[f] = true
	}
	if pol := spec.IPFamilyPolicy; pol != nil && !slices.Contains(supportedFamilyPols, *pol) {
		errs = append(errs, field.NotSupported(sp.Child("ipFamilyPolicy"), *pol, supportedFamilyPols))
	}
	return errs
}

func trafficPolicies(svc *corev1.Service, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	ep := sp.Child("externalTrafficPolicy")
	external := spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer
	switch {
	case !external:
		if spec.ExternalTrafficPolicy != "" {
			errs = append(errs, field.Invalid(ep, spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	case spec.ExternalTrafficPolicy == "":
		errs = append(errs, field.Required(ep, ""))
	case !slices.Contains(supportedExtPolicies, spec.ExternalTrafficPolicy):
		errs = append(errs, field.NotSupported(ep, spec.ExternalTrafficPolicy, supportedExtPolicies))
	}
	hp := sp.Child("healthCheckNodePort")
	if spec.HealthCheckNodePort != 0 {
		if spec.Type != corev1.ServiceTypeLoadBalancer || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			errs = append(errs, field.Invalid(hp, spec.HealthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else {
			errs = append(errs, portNum(spec.HealthCheckNodePort, hp)...)
		}
	}
	ip := sp.Child("internalTrafficPolicy")
	switch {
	case spec.InternalTrafficPolicy == nil:
		if spec.Type != corev1.ServiceTypeExternalName {
			errs = append(errs, field.Required(ip, ""))
		}
	case !slices.Contains(supportedIntPolicies, *spec.InternalTrafficPolicy):
		errs = append(errs, field.NotSupported(ip, *spec.InternalTrafficPolicy, supportedIntPolicies))
	}
	if spec.TrafficDistribution != nil {
		errs = append(errs, qualifiedName(*spec.TrafficDistribution, sp.Child("trafficDistribution"))...)
	}
	return errs
}

func loadBalancerFields(svc *corev1.Service, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	lb := spec.Type == corev1.ServiceTypeLoadBalancer
	const onlyLB = "may only be used when `type` is 'LoadBalancer'"
	ap := sp.Child("allocateLoadBalancerNodePorts")
	if lb && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, field.Required(ap, ""))
	} else if !lb && spec.AllocateLoadBalancerNodePorts != nil {
		errs = append(errs, field.Forbidden(ap, onlyLB))
	}
	if spec.LoadBalancerClass != nil {
		if !lb {
			errs = append(errs, field.Forbidden(sp.Child("loadBalancerClass"), onlyLB))
		} else {
			errs = append(errs, qualifiedName(*spec.LoadBalancerClass, sp.Child("loadBalancerClass"))...)
		}
	}
	if len(spec.LoadBalancerSourceRanges) > 0 {
		rp := sp.Child("loadBalancerSourceRanges")
		if !lb {
			errs = append(errs, field.Forbidden(rp, onlyLB))
		}
		for i, r := range spec.LoadBalancerSourceRanges {
			errs = append(errs, cidr(strings.TrimSpace(r), rp.Index(i))...)
		}
	}
	if spec.LoadBalancerIP != "" {
		if !lb {
			errs = append(errs, field.Forbidden(sp.Child("loadBalancerIP"), onlyLB))
		} else {
			errs = append(errs, ip(spec.LoadBalancerIP, sp.Child("loadBalancerIP"))...)
		}
	}
	return errs
}

// ServiceUpdate validates an update of a service: metadata rules, the new
// service as on create, and a clusterIP that, once set, does not change
// (unless the service becomes or stops being an ExternalName service, which
// has none), nor does the primary IP family.
func ServiceUpdate(newSvc, oldSvc *corev1.Service) field.ErrorList {
	errs := ObjectMetaUpdate(&newSvc.ObjectMeta, &oldSvc.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, serviceSpec(newSvc)...)
	sp := field.NewPath("spec")
	if oldSvc.Spec.Type != corev1.ServiceTypeExternalName && newSvc.Spec.Type != corev1.ServiceTypeExternalName &&
		oldSvc.Spec.ClusterIP != "" {
		errs = append(errs, immutable(newSvc.Spec.ClusterIP, oldSvc.Spec.ClusterIP, sp.Child("clusterIP"))...)
		if len(oldSvc.Spec.IPFamilies) > 0 && len(newSvc.Spec.IPFamilies) > 0 && newSvc.Spec.IPFamilies[0] != oldSvc.Spec.IPFamilies[0] {
			errs = append(errs, field.Invalid(sp.Child("ipFamilies").Index(0), newSvc.Spec.IPFamilies[0], "may not change once set"))
		}
	}
	return errs
}

// ServiceStatusUpdate validates an update of a service's status: metadata
// rules and the load balancer ingress points (valid IPs, DNS hostnames).
func ServiceStatusUpdate(newSvc, oldSvc *corev1.Service) field.ErrorList {
	errs := ObjectMetaUpdate(&newSvc.ObjectMeta, &oldSvc.ObjectMeta, field.NewPath("metadata"))
	ip0 := field.NewPath("status", "loadBalancer", "ingress")
	for i, in := range newSvc.Status.LoadBalancer.Ingress {
		p := ip0.Index(i)
		if in.IP != "" {
			errs = append(errs, ip(in.IP, p.Child("ip"))...)
		}
		if in.Hostname != "" {
			errs = append(errs, dnsSubdomain(in.Hostname, p.Child("hostname"))...)
			if len(validation.IsValidIP(p, in.Hostname)) == 0 {
				errs = append(errs, field.Invalid(p.Child("hostname"), in.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}
