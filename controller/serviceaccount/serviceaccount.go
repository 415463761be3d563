package serviceaccount

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/gantryhq/gantry/controller"
)

// Name is the controller's name in --controllers.
const Name = "serviceaccount"

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Options configure the controller; all but Metrics are required.
type Options struct {
	Client          kubernetes.Interface
	Namespaces      coreinformers.NamespaceInformer
	ServiceAccounts coreinformers.ServiceAccountInformer
	Metrics         *controller.Metrics
}

// Reconciler ensures the default ServiceAccount of a namespace; requests
// name the namespace (Request.Name).
type Reconciler struct {
	client kubernetes.Interface
	ns     corelisters.NamespaceLister
	sa     corelisters.ServiceAccountLister
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.Namespaces == nil || opts.ServiceAccounts == nil {
		return nil, errors.New("serviceaccount: Options.Client, Namespaces and ServiceAccounts are required")
	}
	r := &Reconciler{client: opts.Client, ns: opts.Namespaces.Lister(), sa: opts.ServiceAccounts.Lister()}
	return perNamespace(controller.Options{Name: Name, Reconciler: r, Workers: 2, Metrics: opts.Metrics},
		opts.Namespaces.Informer(), opts.ServiceAccounts.Informer(), DefaultName)
}

// Reconcile creates the default ServiceAccount of namespace req.Name.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	ns, err := activeNamespace(r.ns, req.Name)
	if err != nil || ns == nil {
		return controller.Result{}, err
	}
	if _, err := r.sa.ServiceAccounts(ns.Name).Get(DefaultName); err == nil {
		return controller.Result{}, nil
	}
	_, err = r.client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: ns.Name},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return controller.Result{}, fmt.Errorf("namespace %q: create default serviceaccount: %w", ns.Name, err)
	}
	return controller.Result{}, nil
}

// Register adds the controller to m.
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return New(Options{Client: m.Client(), Namespaces: f.Core().V1().Namespaces(), ServiceAccounts: f.Core().V1().ServiceAccounts(), Metrics: m.Metrics()})
	}})
}
