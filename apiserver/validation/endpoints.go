package validation

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of an EndpointSlice.
const (
	maxSliceEndpoints = 1000
	maxSliceAddresses = 100
	maxSlicePorts     = 20000
)

var supportedAddressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN}

// Endpoints validates an Endpoints object: every subset has addresses (ready
// or not) and ports; addresses are valid IPs that are not unspecified,
// loopback or link-local, with valid hostnames and node names; ports have
// valid numbers, protocols and (when there are several) unique names.
func Endpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := ObjectMeta(&ep.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, endpointSubsets(ep.Subsets, field.NewPath("subsets"))...)
}

// EndpointsUpdate validates an update of an Endpoints object: metadata
// rules and the new subsets.
func EndpointsUpdate(newEP, oldEP *corev1.Endpoints) field.ErrorList {
	errs := ObjectMetaUpdate(&newEP.ObjectMeta, &oldEP.ObjectMeta, field.NewPath("metadata"))
	return append(errs, endpointSubsets(newEP.Subsets, field.NewPath("subsets"))...)
}

func endpointSubsets(subsets []corev1.EndpointSubset, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range subsets {
		sp := fldPath.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, endpointAddress(&a, sp.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, endpointAddress(&a, sp.Child("notReadyAddresses").Index(j))...)
		}
		pp := sp.Child("ports")
		if len(ss.Ports) == 0 {
			errs = append(errs, field.Required(pp, ""))
		}
		names := map[string]bool{}
		for j, port := range ss.Ports {
			p := pp.Index(j)
			np := p.Child("name")
			if port.Name == "" {
				if len(ss.Ports) > 1 {
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
			if port.AppProtocol != nil {
				errs = append(errs, qualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
			}
		}
	}
	return errs
}

func endpointAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := ip(a.IP, p.Child("ip"))
	if len(errs) == 0 {
		errs = append(errs, nonSpecialIP(a.IP, p.Child("ip"))...)
	}
	if a.Hostname != "" {
		errs = append(errs, dnsLabel(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, dnsSubdomain(*a.NodeName, p.Child("nodeName"))...)
	}
	return errs
}

// nonSpecialIP rejects addresses that cannot be the address of a pod or a
// service backend.
func nonSpecialIP(s string, p *field.Path) field.ErrorList {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return nil // reported by the syntax check
	}
	switch {
	case addr.IsUnspecified():
		return field.ErrorList{field.Invalid(p, s, "may not be unspecified (0.0.0.0, ::)")}
	case addr.IsLoopback():
		return field.ErrorList{field.Invalid(p, s, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case addr.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(p, s, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	case addr.IsLinkLocalMulticast():
		return field.ErrorList{field.Invalid(p, s, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	}
	return nil
}

// EndpointSlice validates an endpoint slice: addressType IPv4, IPv6 or
// FQDN; at most 1000 endpoints of 1 to 100 addresses each, matching the
// address type; valid hostnames, node names and topology labels; at most
// 20000 ports with unique valid names, valid numbers and protocols.
func EndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := ObjectMeta(&es.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, endpointSliceContent(es)...)
}

// EndpointSliceUpdate validates an update of an endpoint slice: metadata
// rules, the new content, and an immutable addressType.
func EndpointSliceUpdate(newES, oldES *discoveryv1.EndpointSlice) field.ErrorList {
	errs := ObjectMetaUpdate(&newES.ObjectMeta, &oldES.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, endpointSliceContent(newES)...)
	return append(errs, immutable(newES.AddressType, oldES.AddressType, field.NewPath("addressType"))...)
}

func endpointSliceContent(es *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	tp := field.NewPath("addressType")
	switch {
	case es.AddressType == "":
		errs = append(errs, field.Required(tp, ""))
	case !slices.Contains(supportedAddressTypes, es.AddressType):
		errs = append(errs, field.NotSupported(tp, es.AddressType, supportedAddressTypes))
	}

	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(ep, len(es.Endpoints), maxSliceEndpoints))
	}
	for i, e := range es.Endpoints {
		p := ep.Index(i)
		ap := p.Child("addresses")
		switch {
		case len(e.Addresses) == 0:
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		case len(e.Addresses) > maxSliceAddresses:
			errs = append(errs, field.TooMany(ap, len(e.Addresses), maxSliceAddresses))
		}
		for j, a := range e.Addresses {
			errs = append(errs, sliceAddress(a, es.AddressType, ap.Index(j))...)
		}
		if e.Hostname != nil {
			errs = append(errs, dnsLabel(*e.Hostname, p.Child("hostname"))...)
		}
		if e.NodeName != nil {
			errs = append(errs, dnsSubdomain(*e.NodeName, p.Child("nodeName"))...)
		}
		errs = append(errs, metav1validation.ValidateLabels(e.DeprecatedTopology, p.Child("deprecatedTopology"))...)
	}

	pp := field.NewPath("ports")
	if len(es.Ports) > maxSlicePorts {
		errs = append(errs, field.TooMany(pp, len(es.Ports), maxSlicePorts))
	}
	names := map[string]bool{}
	for i, port := range es.Ports {
		p := pp.Index(i)
		if port.Name != nil {
			np := p.Child("name")
			if *port.Name != "" {
				errs = append(errs, dnsLabel(*port.Name, np)...)
			}
			if names[*port.Name] {
				errs = append(errs, field.Duplicate(np, *port.Name))
			}
			names[*port.Name] = true
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else {
			errs = append(errs, protocol(*port.Protocol, p.Child("protocol"))...)
		}
		if port.Port != nil {
			// 0 is allowed by the type but means "no port"; Kubernetes
			// accepts 0 through 65535 here.
			if *port.Port < 0 || *port.Port > 65535 {
				errs = append(errs, portNum(*port.Port, p.Child("port"))...)
			}
		}
		if port.AppProtocol != nil {
			errs = append(errs, qualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return errs
}

func sliceAddress(a string, t discoveryv1.AddressType, p *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		errs := ip(a, p)
		if len(errs) > 0 {
			return errs
		}
		if v6 := isIPv6(a); v6 != (t == discoveryv1.AddressTypeIPv6) {
			return field.ErrorList{field.Invalid(p, a, "must be an "+string(t)+" address")}
		}
		return nonSpecialIP(a, p)
	case discoveryv1.AddressTypeFQDN:
		return dnsSubdomain(a, p)
	}
	return nil
}
