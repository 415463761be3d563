package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/alwayspullimages"
	"github.com/gantryhq/gantry/apiserver/admission/defaulttolerationseconds"
	"github.com/gantryhq/gantry/apiserver/admission/limitranger"
	"github.com/gantryhq/gantry/apiserver/admission/priority"
	"github.com/gantryhq/gantry/apiserver/admission/resourcequota"
	"github.com/gantryhq/gantry/apiserver/noderestriction"
	"github.com/gantryhq/gantry/apiserver/rbac"
	"github.com/gantryhq/gantry/apiserver/serviceaccount"
	"github.com/gantryhq/gantry/store"
)

// authorization is what a master's API server authorizes and admits with:
// system:masters first, then the node authorizer, then RBAC over a cache of
// the store's roles and bindings; the admission plugins LimitRanger,
// ServiceAccount, NodeRestriction, Priority, DefaultTolerationSeconds,
// RBAC's escalation check and ResourceQuota.
type authorization struct {
	cache      *rbac.StoreCache
	pods       *noderestriction.PodIndex
	authorizer apiserver.Authorizer
	admission  []any
}

// newAuthorization builds a master's authorization and admission over st;
// serviceAccounts adds the ServiceAccount admission plugin (pods get their
// account and token volume), which needs each namespace's default account
// (the service account controller's); tolerations configure
// DefaultTolerationSeconds; optional names optional admission plugins to
// turn on (AdmissionPlugins).
func newAuthorization(st store.Store, log *slog.Logger, serviceAccounts bool, tolerations defaulttolerationseconds.Options, optional ...string) (*authorization, error) {
	cache, err := rbac.NewStoreCache(rbac.StoreCacheOptions{Store: st, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	z, err := rbac.New(rbac.Options{Policy: cache})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	pods, err := noderestriction.NewPodIndex(noderestriction.PodIndexOptions{Store: st, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	authorizer := apiserver.Union{
		apiserver.PrivilegedGroups(apiserver.MastersGroup),
		noderestriction.NewAuthorizer(noderestriction.AuthorizerOptions{Pods: pods}),
		z,
	}
	escalation, err := rbac.NewEscalationCheck(rbac.EscalationOptions{Authorizer: authorizer, Policy: cache})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	limits, err := limitranger.New(limitranger.Options{Lister: limitranger.StoreLister{Store: st}})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	quota, err := resourcequota.New(resourcequota.Options{Store: st, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	// In Kubernetes' order: mutating LimitRanger and ServiceAccount first,
	// ResourceQuota last so that it charges only what the others let
	// through.
	prio, err := priority.New(st)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	defaultTolerations, err := defaulttolerationseconds.New(tolerations)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	var admission []any
	if slices.Contains(optional, AlwaysPullImages) {
		admission = append(admission, alwayspullimages.New())
	}
	admission = append(admission, limits)
	if serviceAccounts {
		admission = append(admission, serviceaccount.NewAdmission(serviceaccount.StoreLookup(st)))
	}
	// DefaultTolerationSeconds follows Priority, as in kube-apiserver.
	admission = append(admission, noderestriction.NewAdmission(noderestriction.AdmissionOptions{Store: st}), prio, defaultTolerations, escalation, quota)
	return &authorization{
		cache:      cache,
		pods:       pods,
		authorizer: authorizer,
		admission:  admission,
	}, nil
}

// start runs the policy cache and the node authorizer's pod index until
// ctx is done and waits until they have listed, at most timeout; the
// returned function waits for them to stop (after ctx is done).
func (a *authorization) start(ctx context.Context, timeout time.Duration) (wait func(), err error) {
	var wg sync.WaitGroup
	wg.Go(func() { a.cache.Run(ctx) })
	wg.Go(func() { a.pods.Run(ctx) })
	syncCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := a.cache.WaitForSync(syncCtx); err != nil {
		return wg.Wait, err
	}
	return wg.Wait, a.pods.WaitForSync(syncCtx)
}

// bootstrap writes the bootstrap policy with the administrator's client
// and waits until the authorizer sees it.
func (a *authorization) bootstrap(ctx context.Context, cs kubernetes.Interface) error {
	b := rbac.BootstrapPolicy()
	if err := rbac.EnsureBootstrapPolicy(ctx, cs, b); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := rbac.WaitForPolicy(ctx, a.cache, b); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// AlwaysPullImages is the optional admission plugin that sets every
// container's imagePullPolicy to Always, so that a pod may use an image
// only with the credentials to pull it (for clusters shared by tenants).
const AlwaysPullImages = "AlwaysPullImages"

// AdmissionPlugins lists the admission plugins MasterConfig's
// EnableAdmissionPlugins may name: the optional one, and those always on.
func AdmissionPlugins() []string {
	return []string{AlwaysPullImages, "NamespaceLifecycle", "LimitRanger", "ServiceAccount", "NodeRestriction", "Priority",
		defaulttolerationseconds.Name, "ResourceQuota"}
}
