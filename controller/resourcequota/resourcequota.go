package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/apiserver/admission/resourcequota"
	"github.com/gantryhq/gantry/controller"
)

// Name is the controller's name in --controllers.
const Name = "resourcequota"

// DefaultResyncPeriod is how often every quota is recomputed even when
// nothing it watches changed (kube-controller-manager's
// --resource-quota-sync-period).
const DefaultResyncPeriod = 5 * time.Minute

// Options configure the controller. Client and the informers are
// required.
type Options struct {
	Client kubernetes.Interface
	// Dynamic lists the objects of count/<resource>.<group> quotas of
	// other groups than core; without it those count as errors.
	Dynamic dynamic.Interface
	// Quotas, Pods and Services are watched for changes; ConfigMaps,
	// Secrets and ReplicationControllers for deletes.
	Quotas                 coreinformers.ResourceQuotaInformer
	Pods                   coreinformers.PodInformer
	Services               coreinformers.ServiceInformer
	ConfigMaps             coreinformers.ConfigMapInformer
	Secrets                coreinformers.SecretInformer
	ReplicationControllers coreinformers.ReplicationControllerInformer
	// ResyncPeriod, when positive, is how often each quota is recomputed
	// regardless of events; 0 means DefaultResyncPeriod.
	ResyncPeriod time.Duration
	Metrics      *controller.Metrics
}

// Reconciler recomputes the status of one ResourceQuota (Request
// namespace/name): status.hard becomes spec.hard and status.used the usage
// of the objects in the namespace the quota selects, read from the API
// server (not from caches, so that usage charged by admission is not
// taken back for objects a cache has not seen yet). The status is written
// only when it changes, with the resourceVersion read, so a charge made
// meanwhile by the admission plugin makes the write fail and the quota is
// computed again.
type Reconciler struct {
	client  kubernetes.Interface
	objects resourcequota.Objects
	resync  time.Duration
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.Quotas == nil || opts.Pods == nil || opts.Services == nil ||
		opts.ConfigMaps == nil || opts.Secrets == nil || opts.ReplicationControllers == nil {
		return nil, errors.New("resourcequota: Options.Client and the informers are required")
	}
	if opts.ResyncPeriod <= 0 {
		opts.ResyncPeriod = DefaultResyncPeriod
	}
	r := &Reconciler{client: opts.Client, objects: NewObjects(opts.Client, opts.Dynamic), resync: opts.ResyncPeriod}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: r, Workers: 2, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	quotas := opts.Quotas.Lister()
	inNamespace := func(obj any) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		enqueueNamespace(c, quotas, m.GetNamespace())
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandlerFuncs
	}{
		{opts.Quotas.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { enqueue(c, obj) },
			UpdateFunc: func(_, obj any) {
				// Status writes (charges, this controller's) do not
				// trigger; a new spec.hard does.
				if q, ok := obj.(*corev1.ResourceQuota); ok && !resourcequota.Equal(q.Spec.Hard, q.Status.Hard) {
					enqueue(c, obj)
				}
			},
		}},
		{opts.Pods.Informer(), cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, obj any) {
				o, ok1 := oldObj.(*corev1.Pod)
				n, ok2 := obj.(*corev1.Pod)
				if ok1 && ok2 && (resourcequota.Terminal(o) != resourcequota.Terminal(n) ||
					!equalPtr(o.Spec.ActiveDeadlineSeconds, n.Spec.ActiveDeadlineSeconds)) {
					inNamespace(obj)
				}
			},
			DeleteFunc: func(obj any) { inNamespace(unwrap(obj)) },
		}},
		{opts.Services.Informer(), cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, obj any) {
				o, ok1 := oldObj.(*corev1.Service)
				n, ok2 := obj.(*corev1.Service)
				if ok1 && ok2 && (o.Spec.Type != n.Spec.Type || len(o.Spec.Ports) != len(n.Spec.Ports)) {
					inNamespace(obj)
				}
			},
			DeleteFunc: func(obj any) { inNamespace(unwrap(obj)) },
		}},
		{opts.ConfigMaps.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) { inNamespace(unwrap(obj)) }}},
		{opts.Secrets.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) { inNamespace(unwrap(obj)) }}},
		{opts.ReplicationControllers.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) { inNamespace(unwrap(obj)) }}},
	}
	for _, h := range handlers {
		reg, err := h.inf.AddEventHandler(h.h)
		if err != nil {
			return nil, fmt.Errorf("resourcequota: watch: %w", err)
		}
		c.WaitFor(reg.HasSynced)
	}
	return c, nil
}

func unwrap(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func equalPtr(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func enqueue(c *controller.Controller, obj any) {
	if m, err := meta.Accessor(obj); err == nil {
		c.Enqueue(controller.Request{NamespacedName: types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}})
	}
}

// enqueueNamespace enqueues every quota of a namespace: something they
// may count was released.
func enqueueNamespace(c *controller.Controller, quotas corelisters.ResourceQuotaLister, namespace string) {
	list, err := quotas.ResourceQuotas(namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range list {
		enqueue(c, q)
	}
}

// Reconcile recomputes the status of quota req and asks to be called again
// after the resync period.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	q, err := r.client.CoreV1().ResourceQuotas(req.Namespace).Get(ctx, req.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, fmt.Errorf("resource quota %s: %w", req, err)
	}
	used, err := resourcequota.ComputeUsed(ctx, r.objects, q)
	if err != nil {
		return controller.Result{}, fmt.Errorf("resource quota %s: computing usage: %w", req, err)
	}
	again := controller.Result{RequeueAfter: r.resync}
	if resourcequota.Equal(q.Status.Hard, q.Spec.Hard) && resourcequota.Equal(q.Status.Used, used) {
		return again, nil
	}
	q = q.DeepCopy()
	q.Status.Hard = q.Spec.Hard.DeepCopy()
	q.Status.Used = used
	_, err = r.client.CoreV1().ResourceQuotas(q.Namespace).UpdateStatus(ctx, q, metav1.UpdateOptions{})
	switch {
	case apierrors.IsConflict(err):
		// Charged meanwhile: compute again from the new state.
		return controller.Result{Requeue: true}, nil
	case apierrors.IsNotFound(err):
		return controller.Result{}, nil
	case err != nil:
		return controller.Result{}, fmt.Errorf("resource quota %s: updating status: %w", req, err)
	}
	return again, nil
}

// Objects lists objects from the API server for computing usage: pods
// and services typed, other resources only counted (found through
// discovery when they are not core).
type Objects struct {
	client kubernetes.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

var _ resourcequota.Objects = (*Objects)(nil)

// NewObjects returns Objects reading through client, and dyn for the
// resources of groups other than core (nil: those cannot be counted).
func NewObjects(client kubernetes.Interface, dyn dynamic.Interface) *Objects {
	return &Objects{client: client, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))}
}

// List implements resourcequota.Objects.
func (o *Objects) List(ctx context.Context, gr schema.GroupResource, namespace string) ([]runtime.Object, error) {
	switch gr {
	case corev1.Resource("pods"):
		list, err := o.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return objectsOf(list.Items), nil
	case corev1.Resource("services"):
		list, err := o.client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return objectsOf(list.Items), nil
	}
	if o.dyn == nil {
		return nil, fmt.Errorf("counting %s: no dynamic client", gr)
	}
	gvr := gr.WithVersion("v1")
	if gr.Group != "" {
		var err error
		if gvr, err = o.mapper.ResourceFor(gr.WithVersion("")); meta.IsNoMatchError(err) {
			o.mapper.Reset()
			gvr, err = o.mapper.ResourceFor(gr.WithVersion(""))
		}
		if meta.IsNoMatchError(err) {
			return nil, nil // not served: nothing to count
		}
		if err != nil {
			return nil, fmt.Errorf("counting %s: %w", gr, err)
		}
	}
	list, err := o.dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return make([]runtime.Object, len(list.Items)), nil
}

// Register adds the controller to m.
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory().Core().V1()
		return New(Options{
			Client: m.Client(), Dynamic: m.Dynamic(), Quotas: f.ResourceQuotas(), Pods: f.Pods(), Services: f.Services(),
			ConfigMaps: f.ConfigMaps(), Secrets: f.Secrets(), ReplicationControllers: f.ReplicationControllers(),
			Metrics: m.Metrics(),
		})
	}})
}

// objectsOf returns pointers to a list's items as runtime.Objects.
func objectsOf[T any, P interface {
	*T
	runtime.Object
}](items []T) []runtime.Object {
	out := make([]runtime.Object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}
