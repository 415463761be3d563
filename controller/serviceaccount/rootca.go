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

// RootCAName is the root CA publisher's name in --controllers.
const RootCAName = "root-ca-cert-publisher"

// RootCAConfigMap is the ConfigMap the root CA publisher keeps in every
// namespace, with the cluster CA bundle under RootCAKey; pods read it
// through their token volume (ca.crt).
const (
	RootCAConfigMap = "kube-root-ca.crt"
	RootCAKey       = "ca.crt"
)

const rootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

// RootCAOptions configure the root CA publisher; all but Metrics are
// required.
type RootCAOptions struct {
	Client     kubernetes.Interface
	Namespaces coreinformers.NamespaceInformer
	ConfigMaps coreinformers.ConfigMapInformer
	// RootCA is the PEM CA bundle to publish.
	RootCA  []byte
	Metrics *controller.Metrics
}

// RootCA keeps the kube-root-ca.crt ConfigMap of every active namespace
// (recreated when deleted, repaired when changed). Requests name a
// namespace.
type RootCA struct {
	client kubernetes.Interface
	ns     corelisters.NamespaceLister
	cm     corelisters.ConfigMapLister
	rootCA string
}

var _ controller.Reconciler = (*RootCA)(nil)

// NewRootCA returns the root CA publisher.
func NewRootCA(opts RootCAOptions) (*controller.Controller, error) {
	if opts.Client == nil || opts.Namespaces == nil || opts.ConfigMaps == nil || len(opts.RootCA) == 0 {
		return nil, errors.New("serviceaccount: RootCAOptions.Client, Namespaces, ConfigMaps and RootCA are required")
	}
	r := &RootCA{client: opts.Client, ns: opts.Namespaces.Lister(), cm: opts.ConfigMaps.Lister(), rootCA: string(opts.RootCA)}
	return perNamespace(controller.Options{Name: RootCAName, Reconciler: r, Workers: 1, Metrics: opts.Metrics},
		opts.Namespaces.Informer(), opts.ConfigMaps.Informer(), RootCAConfigMap)
}

// Reconcile publishes the CA bundle in namespace req.Name.
func (r *RootCA) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	ns, err := activeNamespace(r.ns, req.Name)
	if err != nil || ns == nil {
		return controller.Result{}, err
	}
	cms := r.client.CoreV1().ConfigMaps(ns.Name)
	cm, err := r.cm.ConfigMaps(ns.Name).Get(RootCAConfigMap)
	if apierrors.IsNotFound(err) {
		_, err := cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Annotations: map[string]string{"kubernetes.io/description": rootCADescription}},
			Data:       map[string]string{RootCAKey: r.rootCA},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) { // forbidden: the namespace began terminating
			return controller.Result{}, fmt.Errorf("namespace %q: creating %s: %w", ns.Name, RootCAConfigMap, err)
		}
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if cm.Data[RootCAKey] == r.rootCA && len(cm.Data) == 1 && len(cm.BinaryData) == 0 {
		return controller.Result{}, nil
	}
	update := cm.DeepCopy()
	update.Data = map[string]string{RootCAKey: r.rootCA}
	update.BinaryData = nil
	if _, err := cms.Update(ctx, update, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return controller.Result{Requeue: true}, nil
		}
		return controller.Result{}, fmt.Errorf("namespace %q: repairing %s: %w", ns.Name, RootCAConfigMap, err)
	}
	return controller.Result{}, nil
}

// RegisterRootCA adds the root CA publisher to m.
func RegisterRootCA(m *controller.Manager, rootCA []byte) error {
	return m.Register(controller.Registration{Name: RootCAName, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return NewRootCA(RootCAOptions{Client: m.Client(), Namespaces: f.Core().V1().Namespaces(), ConfigMaps: f.Core().V1().ConfigMaps(), RootCA: rootCA, Metrics: m.Metrics()})
	}})
}
