package serviceaccount

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantryhq/gantry/controller"
)

// TokensName is the token controller's name in --controllers.
const TokensName = "serviceaccount-token"

// TokenSigner signs the long-lived token of a token secret
// (serviceaccount.Issuer in package apiserver/serviceaccount).
type TokenSigner interface {
	LegacyToken(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error)
}

// TokensOptions configure the token controller; all but Metrics are
// required.
type TokensOptions struct {
	Client          kubernetes.Interface
	ServiceAccounts coreinformers.ServiceAccountInformer
	Secrets         coreinformers.SecretInformer
	Signer          TokenSigner
	// RootCA is the cluster CA bundle written as ca.crt into every token
	// secret.
	RootCA  []byte
	Metrics *controller.Metrics
}

// Tokens is the token controller: a Secret of type
// kubernetes.io/service-account-token that names a service account in its
// kubernetes.io/service-account.name annotation gets that account's token,
// the CA bundle and the namespace; token secrets whose account is gone (or
// was replaced: its UID differs) are deleted, which revokes their tokens.
// Requests name a secret.
type Tokens struct {
	client  kubernetes.Interface
	sa      corelisters.ServiceAccountLister
	secrets corelisters.SecretLister
	signer  TokenSigner
	rootCA  []byte
}

var _ controller.Reconciler = (*Tokens)(nil)

// NewTokens returns the token controller.
func NewTokens(opts TokensOptions) (*controller.Controller, error) {
	if opts.Client == nil || opts.ServiceAccounts == nil || opts.Secrets == nil || opts.Signer == nil || len(opts.RootCA) == 0 {
		return nil, errors.New("serviceaccount: TokensOptions.Client, ServiceAccounts, Secrets, Signer and RootCA are required")
	}
	r := &Tokens{client: opts.Client, sa: opts.ServiceAccounts.Lister(), secrets: opts.Secrets.Lister(), signer: opts.Signer, rootCA: opts.RootCA}
	c, err := controller.New(controller.Options{Name: TokensName, Reconciler: r, Workers: 2, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.Secrets.Informer(), controller.MapFunc(func(obj any) []controller.Request {
		if s, ok := obj.(*corev1.Secret); ok && s.Type != corev1.SecretTypeServiceAccountToken {
			return nil
		}
		return controller.ForObject().Map(obj)
	})); err != nil {
		return nil, err
	}
	// An account's change (deletion, re-creation) revisits its secrets.
	if err := opts.Secrets.Informer().AddIndexers(cache.Indexers{accountIndex: indexByAccount}); err != nil {
		return nil, err
	}
	indexer := opts.Secrets.Informer().GetIndexer()
	if err := c.Watch(opts.ServiceAccounts.Informer(), controller.MapFunc(func(obj any) []controller.Request {
		key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		if err != nil {
			return nil
		}
		objs, err := indexer.ByIndex(accountIndex, key)
		if err != nil {
			return nil
		}
		var reqs []controller.Request
		for _, o := range objs {
			s := o.(*corev1.Secret)
			reqs = append(reqs, controller.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
		return reqs
	})); err != nil {
		return nil, err
	}
	return c, nil
}

const accountIndex = "serviceaccount"

// indexByAccount indexes token secrets by "namespace/account".
func indexByAccount(obj any) ([]string, error) {
	s, ok := obj.(*corev1.Secret)
	if !ok || s.Type != corev1.SecretTypeServiceAccountToken || s.Annotations[corev1.ServiceAccountNameKey] == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + s.Annotations[corev1.ServiceAccountNameKey]}, nil
}

// Reconcile fills or deletes one token secret.
func (r *Tokens) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	secret, err := r.secrets.Secrets(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if secret.Type != corev1.SecretTypeServiceAccountToken || secret.DeletionTimestamp != nil {
		return controller.Result{}, nil
	}
	saName := secret.Annotations[corev1.ServiceAccountNameKey]
	if saName == "" {
		return controller.Result{}, nil // validation requires it; nothing to do
	}
	sa, err := r.account(ctx, secret.Namespace, saName)
	if err != nil {
		return controller.Result{}, err
	}
	if sa == nil || (secret.Annotations[corev1.ServiceAccountUIDKey] != "" && secret.Annotations[corev1.ServiceAccountUIDKey] != string(sa.UID)) {
		// The account is gone: so is its token.
		err := r.client.CoreV1().Secrets(secret.Namespace).Delete(ctx, secret.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &secret.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return controller.Result{}, fmt.Errorf("deleting token secret %s/%s of a deleted service account: %w", secret.Namespace, secret.Name, err)
		}
		return controller.Result{}, nil
	}
	namespace := []byte(secret.Namespace)
	if len(secret.Data[corev1.ServiceAccountTokenKey]) > 0 &&
		bytes.Equal(secret.Data[corev1.ServiceAccountRootCAKey], r.rootCA) &&
		bytes.Equal(secret.Data[corev1.ServiceAccountNamespaceKey], namespace) &&
		secret.Annotations[corev1.ServiceAccountUIDKey] == string(sa.UID) {
		return controller.Result{}, nil
	}
	update := secret.DeepCopy()
	if update.Data == nil {
		update.Data = map[string][]byte{}
	}
	if len(update.Data[corev1.ServiceAccountTokenKey]) == 0 {
		token, err := r.signer.LegacyToken(sa, update)
		if err != nil {
			return controller.Result{}, fmt.Errorf("token secret %s/%s: %w", secret.Namespace, secret.Name, err)
		}
		update.Data[corev1.ServiceAccountTokenKey] = []byte(token)
	}
	update.Data[corev1.ServiceAccountRootCAKey] = r.rootCA
	update.Data[corev1.ServiceAccountNamespaceKey] = namespace
	update.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	if _, err := r.client.CoreV1().Secrets(secret.Namespace).Update(ctx, update, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return controller.Result{Requeue: true}, nil
		}
		return controller.Result{}, fmt.Errorf("token secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	return controller.Result{}, nil
}

// account returns the secret's service account, nil when it does not
// exist. A miss in the cache is confirmed with the API server before a
// secret is deleted for it (the cache may lag a just-created account).
func (r *Tokens) account(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := r.sa.ServiceAccounts(namespace).Get(name)
	if err == nil {
		return sa, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	sa, err = r.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return sa, err
}

// RegisterTokens adds the token controller to m.
func RegisterTokens(m *controller.Manager, signer TokenSigner, rootCA []byte) error {
	return m.Register(controller.Registration{Name: TokensName, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return NewTokens(TokensOptions{
			Client: m.Client(), ServiceAccounts: f.Core().V1().ServiceAccounts(), Secrets: f.Core().V1().Secrets(),
			Signer: signer, RootCA: rootCA, Metrics: m.Metrics(),
		})
	}})
}
