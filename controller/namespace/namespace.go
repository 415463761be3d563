package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/controller"
)

// Name is the controller's name in --controllers.
const Name = "namespace"

// RecheckInterval is how long the controller waits before looking again at
// a namespace whose contents are still going away.
const RecheckInterval = 2 * time.Second

// Options configure the controller. All but Clock and Metrics are required.
type Options struct {
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	Namespaces coreinformers.NamespaceInformer
	Clock      clock.WithTicker
	Metrics    *controller.Metrics
}

// Reconciler empties and finalizes Terminating namespaces; Request.Name is
// the namespace.
type Reconciler struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface
	disco   discovery.DiscoveryInterface
	ns      corelisters.NamespaceLister
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.Dynamic == nil || opts.Namespaces == nil {
		return nil, errors.New("namespace: Options.Client, Dynamic and Namespaces are required")
	}
	r := &Reconciler{client: opts.Client, dynamic: opts.Dynamic, disco: opts.Client.Discovery(), ns: opts.Namespaces.Lister()}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: r, Workers: 2, Clock: opts.Clock, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.Namespaces.Informer(), controller.ForObject()); err != nil {
		return nil, err
	}
	return c, nil
}

// Reconcile deletes the contents of a Terminating namespace, then
// finalizes it.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	ns, err := r.ns.Get(req.Name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if ns.DeletionTimestamp == nil && ns.Status.Phase != corev1.NamespaceTerminating {
		return controller.Result{}, nil
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return controller.Result{}, nil
	}
	what := fmt.Sprintf("namespace %q", ns.Name)
	left, err := r.deleteContents(ctx, ns.Name)
	if err != nil {
		return controller.Result{}, fmt.Errorf("%s: delete contents: %w", what, err)
	}
	if left > 0 {
		controller.LoggerFrom(ctx).Debug("namespace not empty yet", "namespace", ns.Name, "remaining", left)
		return controller.Result{RequeueAfter: RecheckInterval}, nil
	}
	fin := ns.DeepCopy()
	fin.Spec.Finalizers = slices.DeleteFunc(fin.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	if _, err := r.client.CoreV1().Namespaces().Finalize(ctx, fin, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return controller.Result{}, fmt.Errorf("%s: finalize: %w", what, err)
	}
	return controller.Result{}, nil
}

// deleteContents deletes every namespaced object in ns and returns how
// many were still there.
func (r *Reconciler) deleteContents(ctx context.Context, ns string) (int, error) {
	lists, err := r.disco.ServerPreferredNamespacedResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return 0, fmt.Errorf("discovery: %w", err)
	}
	left := 0
	var errs []error
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range l.APIResources {
			if !slices.Contains(res.Verbs, "list") || !slices.Contains(res.Verbs, "delete") {
				continue
			}
			ri := r.dynamic.Resource(gv.WithResource(res.Name)).Namespace(ns)
			items, err := ri.List(ctx, metav1.ListOptions{})
			if err != nil {
				if !apierrors.IsNotFound(err) && !apierrors.IsMethodNotSupported(err) {
					errs = append(errs, fmt.Errorf("list %s: %w", res.Name, err))
				}
				continue
			}
			if len(items.Items) == 0 {
				continue
			}
			left += len(items.Items)
			if slices.Contains(res.Verbs, "deletecollection") {
				if err := ri.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err == nil {
					continue
				}
			}
			for _, it := range items.Items {
				if it.GetDeletionTimestamp() != nil {
					continue
				}
				if err := ri.Delete(ctx, it.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("delete %s %q: %w", res.Name, it.GetName(), err))
				}
			}
		}
	}
	if left > 0 && len(errs) == 0 {
		// Deleted just now: look again to see whether they are gone.
		return r.count(ctx, ns, lists)
	}
	return left, errors.Join(errs...)
}

func (r *Reconciler) count(ctx context.Context, ns string, lists []*metav1.APIResourceList) (int, error) {
	n := 0
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if !slices.Contains(res.Verbs, "list") || !slices.Contains(res.Verbs, "delete") {
				continue
			}
			items, err := r.dynamic.Resource(gv.WithResource(res.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				n += len(items.Items)
			}
		}
	}
	return n, nil
}

// Register adds the controller to m (which needs ManagerOptions.Dynamic).
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		return New(Options{Client: m.Client(), Dynamic: m.Dynamic(), Namespaces: m.InformerFactory().Core().V1().Namespaces(), Clock: m.Clock(), Metrics: m.Metrics()})
	}})
}
