package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

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

// StoreCache is a Policy kept in memory from the store: Run lists the RBAC
// objects, then watches them, and lists again when a watch ends (store
// compaction, closed connection). Reads never touch the store. It is safe
// for concurrent use.
type StoreCache struct {
	opts StoreCacheOptions

	roles               *objectCache[rbacv1.Role]
	clusterRoles        *objectCache[rbacv1.ClusterRole]
	roleBindings        *objectCache[rbacv1.RoleBinding]
	clusterRoleBindings *objectCache[rbacv1.ClusterRoleBinding]
}

var _ Policy = (*StoreCache)(nil)

// NewStoreCache returns a cache that is empty until Run has listed.
func NewStoreCache(opts StoreCacheOptions) (*StoreCache, error) {
	if opts.Store == nil {
		return nil, errors.New("rbac: StoreCacheOptions.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	return &StoreCache{
		opts:                opts,
		roles:               newObjectCache[rbacv1.Role]("roles", func(r *rbacv1.Role) string { return r.Namespace }),
		clusterRoles:        newObjectCache[rbacv1.ClusterRole]("clusterroles", nil),
		roleBindings:        newObjectCache[rbacv1.RoleBinding]("rolebindings", func(b *rbacv1.RoleBinding) string { return b.Namespace }),
		clusterRoleBindings: newObjectCache[rbacv1.ClusterRoleBinding]("clusterrolebindings", nil),
	}, nil
}

// Run keeps the cache up to date until ctx is done; it blocks and returns
// nil then.
func (c *StoreCache) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, oc := range []runner{c.roles, c.clusterRoles, c.roleBindings, c.clusterRoleBindings} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			oc.run(ctx, c.opts.Store, c.opts.Logger, c.opts.RetryInterval)
		}()
	}
	wg.Wait()
	return nil
}

// WaitForSync blocks until every kind of object has been listed once, or
// ctx is done (its error is returned).
func (c *StoreCache) WaitForSync(ctx context.Context) error {
	for _, oc := range []runner{c.roles, c.clusterRoles, c.roleBindings, c.clusterRoleBindings} {
		select {
		case <-oc.syncedCh():
		case <-ctx.Done():
			return fmt.Errorf("rbac: waiting for the policy cache: %w", ctx.Err())
		}
	}
	return nil
}

// ClusterRole implements Policy.
func (c *StoreCache) ClusterRole(name string) (*rbacv1.ClusterRole, bool) {
	return c.clusterRoles.get(store.ObjectKey("clusterroles", "", name))
}

// Role implements Policy.
func (c *StoreCache) Role(namespace, name string) (*rbacv1.Role, bool) {
	return c.roles.get(store.ObjectKey("roles", namespace, name))
}

// ClusterRoles implements Policy.
func (c *StoreCache) ClusterRoles() []*rbacv1.ClusterRole { return c.clusterRoles.list("") }

// ClusterRoleBindings implements Policy.
func (c *StoreCache) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return c.clusterRoleBindings.list("")
}

// RoleBindings implements Policy.
func (c *StoreCache) RoleBindings(namespace string) []*rbacv1.RoleBinding {
	return c.roleBindings.list(namespace)
}

type runner interface {
	run(ctx context.Context, st store.Store, log *slog.Logger, retry time.Duration)
	syncedCh() <-chan struct{}
}

// objectCache holds the decoded objects of one resource by store key, and
// by namespace for namespaced ones.
type objectCache[T any] struct {
	resource   string
	prefix     string
	namespace  func(*T) string // nil for cluster-scoped
	synced     chan struct{}
	syncedOnce sync.Once

	mu   sync.RWMutex
	byNS map[string]map[string]*T // namespace ("" when cluster-scoped) -> key -> object
	ns   map[string]string        // key -> namespace
}

func newObjectCache[T any](resource string, namespace func(*T) string) *objectCache[T] {
	return &objectCache[T]{
		resource: resource, prefix: store.ObjectPrefix(resource, ""), namespace: namespace,
		synced: make(chan struct{}), byNS: map[string]map[string]*T{}, ns: map[string]string{},
	}
}

func (oc *objectCache[T]) syncedCh() <-chan struct{} { return oc.synced }

func (oc *objectCache[T]) get(key string) (*T, bool) {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	ns, ok := oc.ns[key]
	if !ok {
		return nil, false
	}
	return oc.byNS[ns][key], true
}

func (oc *objectCache[T]) list(namespace string) []*T {
	oc.mu.RLock()
	defer oc.mu.RUnlock()
	m := oc.byNS[namespace]
	out := make([]*T, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

func (oc *objectCache[T]) decode(key string, value []byte) (*T, string, error) {
	obj := new(T)
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, "", fmt.Errorf("rbac: decoding %s: %w", key, err)
	}
	ns := ""
	if oc.namespace != nil {
		ns = oc.namespace(obj)
	}
	return obj, ns, nil
}

// putLocked stores obj at key; mu must be held.
func (oc *objectCache[T]) putLocked(key, ns string, obj *T) {
	oc.deleteLocked(key)
	m := oc.byNS[ns]
	if m == nil {
		m = map[string]*T{}
		oc.byNS[ns] = m
	}
	m[key] = obj
	oc.ns[key] = ns
}

func (oc *objectCache[T]) deleteLocked(key string) {
	ns, ok := oc.ns[key]
	if !ok {
		return
	}
	delete(oc.ns, key)
	delete(oc.byNS[ns], key)
	if len(oc.byNS[ns]) == 0 {
		delete(oc.byNS, ns)
	}
}

func (oc *objectCache[T]) run(ctx context.Context, st store.Store, log *slog.Logger, retry time.Duration) {
	for ctx.Err() == nil {
		rev, err := oc.relist(ctx, st)
		if err == nil {
			oc.syncedOnce.Do(func() { close(oc.synced) })
			err = oc.watch(ctx, st, rev)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.WarnContext(ctx, "rbac: policy cache: listing again", "resource", oc.resource, "err", err)
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// relist replaces the contents with a consistent list and returns its
// revision.
func (oc *objectCache[T]) relist(ctx context.Context, st store.Store) (int64, error) {
	type item struct {
		key, ns string
		obj     *T
	}
	var items []item
	var rev int64
	opts := store.ListOptions{Limit: 500}
	for {
		res, err := st.List(ctx, oc.prefix, opts)
		if err != nil {
			return 0, fmt.Errorf("rbac: listing %s: %w", oc.resource, err)
		}
		if rev == 0 {
			rev = res.Revision
		}
		for _, kv := range res.Items {
			obj, ns, err := oc.decode(kv.Key, kv.Value)
			if err != nil {
				return 0, err
			}
			items = append(items, item{kv.Key, ns, obj})
		}
		if res.Continue == "" {
			break
		}
		opts = store.ListOptions{Limit: 500, Continue: res.Continue}
	}
	oc.mu.Lock()
	defer oc.mu.Unlock()
	oc.byNS, oc.ns = map[string]map[string]*T{}, map[string]string{}
	for _, it := range items {
		oc.putLocked(it.key, it.ns, it.obj)
	}
	return rev, nil
}

// watch applies the changes after rev until the watch ends.
func (oc *objectCache[T]) watch(ctx context.Context, st store.Store, rev int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := st.Watch(ctx, oc.prefix, rev)
	if err != nil {
		return fmt.Errorf("rbac: watching %s: %w", oc.resource, err)
	}
	for ev := range events {
		switch ev.Type {
		case store.EventCreate, store.EventUpdate:
			obj, ns, err := oc.decode(ev.Key, ev.Value)
			if err != nil {
				return err
			}
			oc.mu.Lock()
			oc.putLocked(ev.Key, ns, obj)
			oc.mu.Unlock()
		case store.EventDelete:
			oc.mu.Lock()
			oc.deleteLocked(ev.Key)
			oc.mu.Unlock()
		case store.EventError:
			return fmt.Errorf("rbac: watching %s: %w", oc.resource, ev.Err)
		}
	}
	return nil
}
