package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/store"
)

// Service cluster IPs and node ports are allocated with one store key each
// (/registry/ranges/serviceips/<ip>, /registry/ranges/servicenodeports/<port>)
// created with Create, which fails when the key exists: two API servers can
// never hand out the same address, and there is no single hot key.

// Defaults of the service ranges (kube-apiserver --service-cluster-ip-range
// and --service-node-port-range).
var (
	DefaultServiceClusterIPRange = netip.MustParsePrefix("10.0.0.0/24")
	DefaultServiceNodePortRange  = PortRange{Base: 30000, Size: 2768}
)

// PortRange is a range of ports [Base, Base+Size).
type PortRange struct {
	Base, Size int
}

// Contains reports whether port is in the range.
func (r PortRange) Contains(port int) bool { return port >= r.Base && port < r.Base+r.Size }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Base, r.Base+r.Size-1) }

// ParsePortRange parses "30000-32767".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || b < a {
		return PortRange{}, fmt.Errorf("invalid port range %q: want LOW-HIGH within 1-65535", s)
	}
	return PortRange{Base: a, Size: b - a + 1}, nil
}

const (
	serviceIPPrefix   = "/registry/ranges/serviceips/"
	nodePortPrefix    = "/registry/ranges/servicenodeports/"
	randomAllocations = 16
)

// allocation is what a service write allocated and released, so that a
// failed write can undo it and a successful one can finish it.
type allocation struct {
	s        *Server
	acquired []string // keys created by this write
	released []string // keys to delete once the write is stored
}

// rollback releases what the write acquired.
func (a *allocation) rollback(ctx context.Context) {
	for _, k := range a.acquired {
		a.s.releaseKey(ctx, k)
	}
}

// commit releases what the write gave up.
func (a *allocation) commit(ctx context.Context) {
	for _, k := range a.released {
		a.s.releaseKey(ctx, k)
	}
}

func (s *Server) releaseKey(ctx context.Context, key string) {
	if _, err := s.opts.Store.Delete(context.WithoutCancel(ctx), key, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.WarnContext(ctx, "releasing a service allocation", "key", key, "err", err)
	}
}

// reserve takes key for owner; false if someone has it.
func (s *Server) reserve(ctx context.Context, a *allocation, key, owner string) (bool, error) {
	_, err := s.opts.Store.Create(ctx, key, []byte(owner), store.WriteOptions{})
	switch {
	case err == nil:
		a.acquired = append(a.acquired, key)
		return true, nil
	case errors.Is(err, store.ErrAlreadyExists):
		return false, nil
	}
	return false, err
}

// allocateFrom reserves a free member of a range of size n (offsets
// [first, n)): random tries first, then a scan of what is taken.
func (s *Server) allocateFrom(ctx context.Context, a *allocation, prefix string, first, n int, name func(off int) string, owner string) (string, error) {
	if n <= first {
		return "", errors.New("range is empty")
	}
	for range randomAllocations {
		k := name(first + rand.IntN(n-first))
		ok, err := s.reserve(ctx, a, prefix+k, owner)
		if err != nil {
			return "", err
		}
		if ok {
			return k, nil
		}
	}
	list, err := s.opts.Store.List(ctx, prefix, store.ListOptions{})
	if err != nil {
		return "", err
	}
	taken := make(map[string]bool, len(list.Items))
	for _, kv := range list.Items {
		taken[strings.TrimPrefix(kv.Key, prefix)] = true
	}
	for off := first; off < n; off++ {
		k := name(off)
		if taken[k] {
			continue
		}
		ok, err := s.reserve(ctx, a, prefix+k, owner)
		if err != nil {
			return "", err
		}
		if ok {
			return k, nil
		}
	}
	return "", errors.New("range is full")
}

// ipAt returns the off-th address of the prefix.
func ipAt(p netip.Prefix, off int) netip.Addr {
	b := new(big.Int).SetBytes(p.Masked().Addr().AsSlice())
	b.Add(b, big.NewInt(int64(off)))
	buf := make([]byte, p.Addr().BitLen()/8)
	b.FillBytes(buf)
	addr, _ := netip.AddrFromSlice(buf)
	return addr
}

// rangeSize is the number of usable offsets of the prefix: all but the
// network address and, for IPv4, the broadcast address.
func rangeSize(p netip.Prefix) int {
	bits := p.Addr().BitLen() - p.Bits()
	if bits > 20 {
		bits = 20 // at most 1M addresses are handed out
	}
	n := 1 << bits
	if p.Addr().Is4() {
		n-- // broadcast
	}
	return n
}

// allocateService gives a new or updated service its cluster IP and node
// ports. old is nil on create.
func (s *Server) allocateService(ctx context.Context, svc, old *corev1.Service) (*allocation, error) {
	a := &allocation{s: s}
	owner := svc.Namespace + "/" + svc.Name
	ipRange := s.opts.ServiceClusterIPRange
	var errs field.ErrorList

	if old == nil && svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if svc.Spec.ClusterIP == "" {
			ip, err := s.allocateFrom(ctx, a, serviceIPPrefix, 2, rangeSize(ipRange), func(off int) string { return ipAt(ipRange, off).String() }, owner)
			if err != nil {
				a.rollback(ctx)
				return nil, apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
			}
			svc.Spec.ClusterIP = ip
		} else {
			ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
			path := field.NewPath("spec", "clusterIPs").Index(0)
			switch {
			case err != nil:
				errs = append(errs, field.Invalid(path, svc.Spec.ClusterIP, "must be a valid IP address"))
			case !ipRange.Contains(ip):
				errs = append(errs, field.Invalid(path, svc.Spec.ClusterIP, fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", ip, ipRange)))
			default:
				ok, err := s.reserve(ctx, a, serviceIPPrefix+ip.String(), owner)
				if err != nil {
					return nil, apierrors.NewInternalError(err)
				}
				if !ok {
					errs = append(errs, field.Invalid(path, svc.Spec.ClusterIP, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)))
				}
			}
		}
	}
	if svc.Spec.ClusterIP != "" {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			family := corev1.IPv4Protocol
			if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && ip.Is6() {
				family = corev1.IPv6Protocol
			}
			svc.Spec.IPFamilies = []corev1.IPFamily{family}
		}
		single := corev1.IPFamilyPolicySingleStack
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = &single
		}
	}

	// Node ports: kept when the port keeps its number, allocated when new,
	// released when gone.
	needNodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	had := map[int32]bool{}
	if old != nil {
		for _, p := range old.Spec.Ports {
			if p.NodePort != 0 {
				had[p.NodePort] = true
			}
		}
	}
	keep := map[int32]bool{}
	portRange := s.opts.ServiceNodePortRange
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
		switch {
		case !needNodePorts:
			if p.NodePort != 0 && !had[p.NodePort] {
				errs = append(errs, field.Forbidden(path, "may not be used when `type` is 'ClusterIP'"))
			}
			p.NodePort = 0
		case p.NodePort == 0:
			port, err := s.allocateFrom(ctx, a, nodePortPrefix, 0, portRange.Size, func(off int) string { return strconv.Itoa(portRange.Base + off) }, owner)
			if err != nil {
				a.rollback(ctx)
				return nil, apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
			}
			n, _ := strconv.Atoi(port)
			p.NodePort = int32(n)
			keep[p.NodePort] = true
		case had[p.NodePort]:
			keep[p.NodePort] = true
		case !portRange.Contains(int(p.NodePort)):
			errs = append(errs, field.Invalid(path, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", portRange)))
		case keep[p.NodePort]:
			// The same node port for two protocols of one port.
		default:
			ok, err := s.reserve(ctx, a, nodePortPrefix+strconv.Itoa(int(p.NodePort)), owner)
			if err != nil {
				a.rollback(ctx)
				return nil, apierrors.NewInternalError(err)
			}
			if !ok {
				errs = append(errs, field.Invalid(path, p.NodePort, "provided port is already allocated"))
			}
			keep[p.NodePort] = true
		}
	}
	for port := range had {
		if !keep[port] {
			a.released = append(a.released, nodePortPrefix+strconv.Itoa(int(port)))
		}
	}
	if len(errs) > 0 {
		a.rollback(ctx)
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	return a, nil
}

// releaseService frees the addresses of a deleted service.
func (s *Server) releaseService(ctx context.Context, svc *corev1.Service) {
	a := &allocation{s: s}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		a.released = append(a.released, serviceIPPrefix+ip)
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			a.released = append(a.released, nodePortPrefix+strconv.Itoa(int(p.NodePort)))
		}
	}
	a.commit(ctx)
}

// serviceHooks plug the allocation into the generic write paths.
func serviceHooks(r *Resource) {
	r.beforeWrite = func(ctx context.Context, s *Server, obj, old runtime.Object) (*allocation, error) {
		var prev *corev1.Service
		if old != nil {
			prev = old.(*corev1.Service)
		}
		return s.allocateService(ctx, obj.(*corev1.Service), prev)
	}
	r.afterDelete = func(ctx context.Context, s *Server, obj runtime.Object) {
		s.releaseService(ctx, obj.(*corev1.Service))
	}
}

// ensureKubernetesService creates default/kubernetes, the service of the
// API server itself, and its endpoints when an advertise address is set.
func (s *Server) ensureKubernetesService(ctx context.Context) error {
	addr, port := s.opts.AdvertiseAddress, s.opts.AdvertisePort
	svcRes := s.resources[corev1.SchemeGroupVersion.WithResource("services")]
	epRes := s.resources[corev1.SchemeGroupVersion.WithResource("endpoints")]
	if addr == "" || svcRes == nil || epRes == nil {
		return nil
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: ipAt(s.opts.ServiceClusterIPRange, 1).String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))}},
			Type:      corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	info := requestInfo{Verb: "create", Namespace: metav1.NamespaceDefault, Resource: "services"}
	_, _, err := s.getObject(ctx, svcRes, metav1.NamespaceDefault, "kubernetes")
	if apierrors.IsNotFound(err) {
		_, err = s.create(ctx, svcRes, info, svc, false)
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the kubernetes service: %w", err)
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	info.Resource = "endpoints"
	if _, err := s.create(ctx, epRes, info, ep, false); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the kubernetes endpoints: %w", err)
	}
	sliceRes := s.resources[discoveryv1.SchemeGroupVersion.WithResource("endpointslices")]
	if sliceRes == nil {
		return nil
	}
	family := discoveryv1.AddressTypeIPv4
	if ip, _ := netip.ParseAddr(addr); ip.Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "gantry-apiserver"}},
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	info.Resource = "endpointslices"
	if _, err := s.create(ctx, sliceRes, info, slice, false); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the kubernetes endpoint slice: %w", err)
	}
	return nil
}

// keepAllocations carries a service's cluster IP and node ports over an
// update that leaves them out (a PUT of a manifest without them), as
// Kubernetes does; changing them is still a validation error.
func keepAllocations(_ context.Context, obj, old runtime.Object) {
	svc, prev := obj.(*corev1.Service), old.(*corev1.Service)
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP = prev.Spec.ClusterIP
		svc.Spec.ClusterIPs = prev.Spec.ClusterIPs
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = prev.Spec.IPFamilies
		}
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = prev.Spec.IPFamilyPolicy
		}
	}
	external := func(t corev1.ServiceType) bool {
		return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
	}
	if !external(svc.Spec.Type) {
		// Fields that only external services have go with the type,
		// unless the client changed them on purpose.
		if external(prev.Spec.Type) && svc.Spec.ExternalTrafficPolicy == prev.Spec.ExternalTrafficPolicy {
			svc.Spec.ExternalTrafficPolicy = ""
		}
		if external(prev.Spec.Type) && svc.Spec.HealthCheckNodePort == prev.Spec.HealthCheckNodePort {
			svc.Spec.HealthCheckNodePort = 0
		}
		return
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.NodePort != 0 {
			continue
		}
		for _, q := range prev.Spec.Ports {
			if q.NodePort != 0 && q.Port == p.Port && q.Protocol == p.Protocol {
				p.NodePort = q.NodePort
			}
		}
	}
}
