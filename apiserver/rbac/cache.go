package rbac

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/gantryhq/gantry/apiserver/watchcache"
	"github.com/gantryhq/gantry/store"
)

// StoreCacheOptions configure a StoreCache.
type StoreCacheOptions struct {
	// Store is the API server's store, where the RBAC objects are kept
	// under /registry/{roles,rolebindings,clusterroles,clusterrolebindings}.
	// Required; the cache does not close it.
	Store store.Store
	// Logger receives watch failures; nil means slog.Default().
	Logger *slog.Logger
	// RetryInterval is the wait before listing again after a failure;
	// 0 means one second.
	RetryInterval time.Duration
}

// StoreCache is a Policy kept in memory from the store (package
// apiserver/watchcache): Run lists the RBAC objects, then watches them,
// and lists again when a watch ends (store compaction, closed connection).
// Reads never touch the store. It is safe for concurrent use.
type StoreCache struct {
	roles               *watchcache.Cache[rbacv1.Role]
	clusterRoles        *watchcache.Cache[rbacv1.ClusterRole]
	roleBindings        *watchcache.Cache[rbacv1.RoleBinding]
	clusterRoleBindings *watchcache.Cache[rbacv1.ClusterRoleBinding]
}

var _ Policy = (*StoreCache)(nil)

// NewStoreCache returns a cache that is empty until Run has listed.
func NewStoreCache(opts StoreCacheOptions) (*StoreCache, error) {
	if opts.Store == nil {
		return nil, errors.New("rbac: StoreCacheOptions.Store is required")
	}
	c := &StoreCache{}
	var err error
	if c.roles, err = newCache[rbacv1.Role](opts, "roles", true); err != nil {
		return nil, err
	}
	if c.clusterRoles, err = newCache[rbacv1.ClusterRole](opts, "clusterroles", false); err != nil {
		return nil, err
	}
	if c.roleBindings, err = newCache[rbacv1.RoleBinding](opts, "rolebindings", true); err != nil {
		return nil, err
	}
	if c.clusterRoleBindings, err = newCache[rbacv1.ClusterRoleBinding](opts, "clusterrolebindings", false); err != nil {
		return nil, err
	}
	return c, nil
}

func newCache[T any](opts StoreCacheOptions, resource string, namespaced bool) (*watchcache.Cache[T], error) {
	c, err := watchcache.New(watchcache.Options[T]{
		Store: opts.Store, Resource: resource, Namespaced: namespaced, Logger: opts.Logger, RetryInterval: opts.RetryInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("rbac: %w", err)
	}
	return c, nil
}

type runner interface {
	Run(ctx context.Context) error
	WaitForSync(ctx context.Context) error
}

func (c *StoreCache) caches() []runner {
	return []runner{c.roles, c.clusterRoles, c.roleBindings, c.clusterRoleBindings}
}

// Run keeps the cache up to date until ctx is done; it blocks and returns
// nil then.
func (c *StoreCache) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range c.caches() {
		wg.Go(func() { r.Run(ctx) })
	}
	wg.Wait()
	return nil
}

// WaitForSync blocks until every kind of object has been listed once, or
// ctx is done (its error is returned).
func (c *StoreCache) WaitForSync(ctx context.Context) error {
	for _, r := range c.caches() {
		if err := r.WaitForSync(ctx); err != nil {
			return fmt.Errorf("rbac: waiting for the policy cache: %w", err)
		}
	}
	return nil
}

// ClusterRole implements Policy.
func (c *StoreCache) ClusterRole(name string) (*rbacv1.ClusterRole, bool) {
	return c.clusterRoles.Get("", name)
}

// Role implements Policy.
func (c *StoreCache) Role(namespace, name string) (*rbacv1.Role, bool) {
	return c.roles.Get(namespace, name)
}

// ClusterRoles implements Policy.
func (c *StoreCache) ClusterRoles() []*rbacv1.ClusterRole { return c.clusterRoles.List("") }

// ClusterRoleBindings implements Policy.
func (c *StoreCache) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return c.clusterRoleBindings.List("")
}

// RoleBindings implements Policy.
func (c *StoreCache) RoleBindings(namespace string) []*rbacv1.RoleBinding {
	return c.roleBindings.List(namespace)
}
