package endpoints

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/controller"
)

// Controller names in --controllers (as kube-controller-manager's).
const (
	EndpointsName     = "endpoint"
	EndpointSliceName = "endpointslice"
)

// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the
// slices this package writes.
const ManagedBy = "endpointslice-controller.k8s.io"

// MaxEndpointsPerSlice bounds the endpoints of one slice.
const MaxEndpointsPerSlice = 100

// Options configure either controller. Client, Services and Pods are
// required; Endpoints for NewEndpoints, EndpointSlices for
// NewEndpointSlices.
type Options struct {
	Client         kubernetes.Interface
	Services       coreinformers.ServiceInformer
	Pods           coreinformers.PodInformer
	Endpoints      coreinformers.EndpointsInformer
	EndpointSlices discoveryinformers.EndpointSliceInformer
	Clock          clock.WithTicker
	Workers        int
	Metrics        *controller.Metrics
}

type base struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
}

// podToServices maps a pod to the services in its namespace selecting it.
func (b *base) podToServices(obj any) []controller.Request {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	svcs, _ := b.services.Services(pod.Namespace).List(labels.Everything())
	var out []controller.Request
	for _, s := range svcs {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			out = append(out, controller.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
	return out
}

// endpoint is one pod's address for a service.
type endpoint struct {
	pod   *corev1.Pod
	ready bool
	ports []port
}

type port struct {
	name     string
	number   int32
	protocol corev1.Protocol
	appProto *string
}

func portsKey(ps []port) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s/%d/%s;", p.name, p.number, p.protocol)
	}
	return b.String()
}

// resolve returns the service's ports on pod, or false if a named target
// port is missing on it.
func resolve(svc *corev1.Service, pod *corev1.Pod) ([]port, bool) {
	var out []port
	for _, sp := range svc.Spec.Ports {
		num := int32(0)
		switch sp.TargetPort.Type {
		case intstr.Int:
			num = sp.TargetPort.IntVal
		case intstr.String:
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal && cp.Protocol == sp.Protocol {
						num = cp.ContainerPort
					}
				}
			}
		}
		if num == 0 && sp.TargetPort.Type == intstr.Int {
			num = sp.Port
		}
		if num == 0 {
			return nil, false
		}
		out = append(out, port{name: sp.Name, number: num, protocol: sp.Protocol, appProto: sp.AppProtocol})
	}
	return out, true
}

// endpointsFor lists the addressable pods of svc, sorted by name; nil
// (with ok false) when svc has no selector and is managed by hand.
func (b *base) endpointsFor(svc *corev1.Service) ([]endpoint, bool, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, false, nil
	}
	pods, err := b.pods.Pods(svc.Namespace).List(labels.SelectorFromSet(svc.Spec.Selector))
	if err != nil {
		return nil, false, err
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var out []endpoint
	for _, p := range pods {
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if p.DeletionTimestamp != nil && !svc.Spec.PublishNotReadyAddresses {
			continue
		}
		ps, ok := resolve(svc, p)
		if !ok {
			continue
		}
		out = append(out, endpoint{pod: p, ready: svc.Spec.PublishNotReadyAddresses || (controller.PodReady(p) && p.DeletionTimestamp == nil), ports: ps})
	}
	return out, true, nil
}

func podRef(p *corev1.Pod) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
}

// EndpointsReconciler keeps the Endpoints object of each Service.
type EndpointsReconciler struct {
	base
	endpoints corelisters.EndpointsLister
}

var _ controller.Reconciler = (*EndpointsReconciler)(nil)

// NewEndpoints returns the Endpoints controller.
func NewEndpoints(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.Services == nil || opts.Pods == nil || opts.Endpoints == nil {
		return nil, errors.New("endpoints: Options.Client, Services, Pods and Endpoints are required")
	}
	r := &EndpointsReconciler{base: base{opts.Client, opts.Services.Lister(), opts.Pods.Lister()}, endpoints: opts.Endpoints.Lister()}
	return newController(EndpointsName, opts, r, &r.base, func(c *controller.Controller) error {
		return c.Watch(opts.Endpoints.Informer(), controller.ForObject())
	})
}

func newController(name string, opts Options, r controller.Reconciler, b *base, extra func(*controller.Controller) error) (*controller.Controller, error) {
	if opts.Workers == 0 {
		opts.Workers = 5
	}
	c, err := controller.New(controller.Options{Name: name, Reconciler: r, Workers: opts.Workers, Clock: opts.Clock, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.Services.Informer(), controller.ForObject()); err != nil {
		return nil, err
	}
	if err := c.Watch(opts.Pods.Informer(), controller.MapFunc(b.podToServices)); err != nil {
		return nil, err
	}
	if err := extra(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Reconcile writes the Endpoints of the Service req names.
func (r *EndpointsReconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	svc, err := r.services.Services(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		err := r.client.CoreV1().Endpoints(req.Namespace).Delete(ctx, req.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return controller.Result{}, fmt.Errorf("endpoints %q: delete: %w", req.String(), err)
		}
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	eps, ok, err := r.endpointsFor(svc)
	if err != nil || !ok {
		return controller.Result{}, err
	}
	subsets := map[string]*corev1.EndpointSubset{}
	var keys []string
	for _, e := range eps {
		k := portsKey(e.ports)
		s, found := subsets[k]
		if !found {
			s = &corev1.EndpointSubset{}
			for _, p := range e.ports {
				s.Ports = append(s.Ports, corev1.EndpointPort{Name: p.name, Port: p.number, Protocol: p.protocol, AppProtocol: p.appProto})
			}
			subsets[k] = s
			keys = append(keys, k)
		}
		addr := corev1.EndpointAddress{IP: e.pod.Status.PodIP, TargetRef: podRef(e.pod)}
		if e.pod.Spec.NodeName != "" {
			addr.NodeName = ptr.To(e.pod.Spec.NodeName)
		}
		if e.pod.Spec.Hostname != "" && e.pod.Spec.Subdomain == svc.Name {
			addr.Hostname = e.pod.Spec.Hostname
		}
		if e.ready {
			s.Addresses = append(s.Addresses, addr)
		} else {
			s.NotReadyAddresses = append(s.NotReadyAddresses, addr)
		}
	}
	sort.Strings(keys)
	var want []corev1.EndpointSubset
	for _, k := range keys {
		want = append(want, *subsets[k])
	}
	lbls := map[string]string{}
	for k, v := range svc.Labels {
		lbls[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		lbls[corev1.IsHeadlessService] = ""
	}
	cur, err := r.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	if apierrors.IsNotFound(err) {
		_, err = r.client.CoreV1().Endpoints(svc.Namespace).Create(ctx, &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: lbls},
			Subsets:    want,
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return controller.Result{Requeue: true}, nil
		}
	} else if err == nil {
		if apiequality.Semantic.DeepEqual(cur.Subsets, want) && apiequality.Semantic.DeepEqual(cur.Labels, lbls) {
			return controller.Result{}, nil
		}
		ep := cur.DeepCopy()
		ep.Subsets, ep.Labels = want, lbls
		_, err = r.client.CoreV1().Endpoints(svc.Namespace).Update(ctx, ep, metav1.UpdateOptions{})
	}
	if err != nil {
		return controller.Result{}, fmt.Errorf("endpoints %q: %w", req.String(), err)
	}
	return controller.Result{}, nil
}

// SliceReconciler keeps the EndpointSlices of each Service.
type SliceReconciler struct {
	base
	slices discoverylisters.EndpointSliceLister
}

var _ controller.Reconciler = (*SliceReconciler)(nil)

// NewEndpointSlices returns the EndpointSlice controller.
func NewEndpointSlices(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.Services == nil || opts.Pods == nil || opts.EndpointSlices == nil {
		return nil, errors.New("endpointslice: Options.Client, Services, Pods and EndpointSlices are required")
	}
	r := &SliceReconciler{base: base{opts.Client, opts.Services.Lister(), opts.Pods.Lister()}, slices: opts.EndpointSlices.Lister()}
	return newController(EndpointSliceName, opts, r, &r.base, func(c *controller.Controller) error {
		return c.Watch(opts.EndpointSlices.Informer(), controller.MapFunc(func(obj any) []controller.Request {
			s, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
				return nil
			}
			return []controller.Request{{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]}}}
		}))
	})
}

func shortHash(s string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}

// Reconcile writes the EndpointSlices of the Service req names.
func (r *SliceReconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	what := fmt.Sprintf("endpointslices of service %q", req.String())
	existing, err := r.slices.EndpointSlices(req.Namespace).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: req.Name, discoveryv1.LabelManagedBy: ManagedBy,
	}))
	if err != nil {
		return controller.Result{}, err
	}
	svc, err := r.services.Services(req.Namespace).Get(req.Name)
	var want map[string]*discoveryv1.EndpointSlice
	switch {
	case apierrors.IsNotFound(err):
		// Deleted service: remove our slices.
	case err != nil:
		return controller.Result{}, err
	default:
		eps, ok, err := r.endpointsFor(svc)
		if err != nil {
			return controller.Result{}, err
		}
		if !ok {
			return controller.Result{}, nil
		}
		want = r.desired(svc, eps)
	}
	have := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		have[s.Name] = s
	}
	var errs []error
	for name, w := range want {
		cur, found := have[name]
		switch {
		case !found:
			_, err = r.client.DiscoveryV1().EndpointSlices(req.Namespace).Create(ctx, w, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
		case apiequality.Semantic.DeepEqual(cur.Endpoints, w.Endpoints) && apiequality.Semantic.DeepEqual(cur.Ports, w.Ports) &&
			apiequality.Semantic.DeepEqual(cur.Labels, w.Labels):
			err = nil
		default:
			s := cur.DeepCopy()
			s.Endpoints, s.Ports, s.Labels, s.AddressType = w.Endpoints, w.Ports, w.Labels, w.AddressType
			_, err = r.client.DiscoveryV1().EndpointSlices(req.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("endpointslice %q: %w", name, err))
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			err := r.client.DiscoveryV1().EndpointSlices(req.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("endpointslice %q: delete: %w", name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return controller.Result{}, fmt.Errorf("%s: %w", what, err)
	}
	return controller.Result{}, nil
}

func (r *SliceReconciler) desired(svc *corev1.Service, eps []endpoint) map[string]*discoveryv1.EndpointSlice {
	groups := map[string][]endpoint{}
	for _, e := range eps {
		k := portsKey(e.ports)
		groups[k] = append(groups[k], e)
	}
	lbls := map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: ManagedBy}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		lbls[corev1.IsHeadlessService] = ""
	}
	out := map[string]*discoveryv1.EndpointSlice{}
	mk := func(name string, ps []port) *discoveryv1.EndpointSlice {
		s := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: svc.Namespace, Labels: lbls,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{},
		}
		for _, p := range ps {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.name), Port: ptr.To(p.number), Protocol: ptr.To(p.protocol), AppProtocol: p.appProto})
		}
		out[name] = s
		return s
	}
	if len(groups) == 0 {
		// An empty slice says "no endpoints" rather than "not yet known".
		var ps []port
		for _, sp := range svc.Spec.Ports {
			if sp.TargetPort.Type == intstr.Int {
				ps = append(ps, port{name: sp.Name, number: sp.TargetPort.IntVal, protocol: sp.Protocol, appProto: sp.AppProtocol})
			}
		}
		mk(svc.Name+"-"+shortHash(""), ps)
		return out
	}
	for k, es := range groups {
		for i := 0; i < len(es); i += MaxEndpointsPerSlice {
			name := svc.Name + "-" + shortHash(k)
			if i > 0 {
				name += fmt.Sprintf("-%d", i/MaxEndpointsPerSlice)
			}
			s := mk(name, es[0].ports)
			for _, e := range es[i:min(len(es), i+MaxEndpointsPerSlice)] {
				terminating := e.pod.DeletionTimestamp != nil
				ep := discoveryv1.Endpoint{
					Addresses: []string{e.pod.Status.PodIP},
					Conditions: discoveryv1.EndpointConditions{
						Ready: ptr.To(e.ready), Serving: ptr.To(controller.PodReady(e.pod)), Terminating: ptr.To(terminating),
					},
					TargetRef: podRef(e.pod),
				}
				if e.pod.Spec.NodeName != "" {
					ep.NodeName = ptr.To(e.pod.Spec.NodeName)
				}
				s.Endpoints = append(s.Endpoints, ep)
			}
		}
	}
	return out
}

// Register adds both controllers to m.
func Register(m *controller.Manager) error {
	opts := func(m *controller.Manager) Options {
		f := m.InformerFactory()
		return Options{Client: m.Client(), Services: f.Core().V1().Services(), Pods: f.Core().V1().Pods(),
			Endpoints: f.Core().V1().Endpoints(), EndpointSlices: f.Discovery().V1().EndpointSlices(), Clock: m.Clock(), Metrics: m.Metrics()}
	}
	if err := m.Register(controller.Registration{Name: EndpointsName, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		return NewEndpoints(opts(m))
	}}); err != nil {
		return err
	}
	return m.Register(controller.Registration{Name: EndpointSliceName, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		return NewEndpointSlices(opts(m))
	}})
}
