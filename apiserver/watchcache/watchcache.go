package watchcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gantryhq/gantry/store"
)

// Options configure a Cache of objects of type T.
type Options[T any] struct {
	// Store is the API server's store. Required; the cache does not close
	// it.
	Store store.Store
	// Resource is the plural resource name, the store key's first
	// segment ("pods", "clusterroles"). Required.
	Resource string
	// Namespaced is true for namespaced resources (keys
	// <prefix><namespace>/<name>).
	Namespaced bool
	// Index, when set, returns the index values of an object (a pod's
	// node name); ByIndex finds objects by them.
	Index func(*T) []string
	// Logger receives list and watch failures; nil means slog.Default().
	Logger *slog.Logger
	// RetryInterval is the wait before listing again after a failure; 0
	// means one second.
	RetryInterval time.Duration
}

// Cache holds the current objects of one resource. Run fills it; the
// objects it returns are shared and must not be changed. Safe for
// concurrent use.
type Cache[T any] struct {
	opts       Options[T]
	prefix     string
	synced     chan struct{}
	syncedOnce sync.Once

	mu      sync.RWMutex
	byNS    map[string]map[string]*T // namespace ("" when cluster-scoped) -> name -> object
	byIndex map[string]map[string]*T // index value -> namespace/name -> object
	keys    map[string]entry         // store key -> where it is
}

type entry struct {
	namespace, name string
	index           []string
}

// New validates opts and returns an empty cache; call Run.
func New[T any](opts Options[T]) (*Cache[T], error) {
	if opts.Store == nil || opts.Resource == "" {
		return nil, errors.New("watchcache: Options.Store and Resource are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	c := &Cache[T]{opts: opts, prefix: store.ObjectPrefix(opts.Resource, ""), synced: make(chan struct{})}
	c.reset()
	return c, nil
}

func (c *Cache[T]) reset() {
	c.byNS, c.byIndex, c.keys = map[string]map[string]*T{}, map[string]map[string]*T{}, map[string]entry{}
}

// Synced is closed once the cache has listed the first time.
func (c *Cache[T]) Synced() <-chan struct{} { return c.synced }

// WaitForSync blocks until the first list is in, or ctx is done.
func (c *Cache[T]) WaitForSync(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("watchcache: waiting for %s: %w", c.opts.Resource, ctx.Err())
	}
}

// Get returns the object namespace/name ("" namespace when cluster-scoped).
func (c *Cache[T]) Get(namespace, name string) (*T, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.byNS[namespace][name]
	return o, ok
}

// List returns the objects of one namespace ("" for a cluster-scoped
// resource), in no particular order.
func (c *Cache[T]) List(namespace string) []*T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return values(c.byNS[namespace])
}

// ByIndex returns the objects with index value v, in no particular order.
func (c *Cache[T]) ByIndex(v string) []*T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return values(c.byIndex[v])
}

func values[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

// Run keeps the cache current until ctx is done; it blocks and returns nil
// then.
func (c *Cache[T]) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		rev, err := c.relist(ctx)
		if err == nil {
			c.syncedOnce.Do(func() { close(c.synced) })
			err = c.watch(ctx, rev)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.opts.Logger.WarnContext(ctx, "watchcache: listing again", "resource", c.opts.Resource, "err", err)
		}
		t := time.NewTimer(c.opts.RetryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	return nil
}

func (c *Cache[T]) decode(key string, value []byte) (*T, entry, error) {
	obj := new(T)
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, entry{}, fmt.Errorf("watchcache: decoding %s: %w", key, err)
	}
	e := entry{name: strings.TrimPrefix(key, c.prefix)}
	if c.opts.Namespaced {
		e.namespace, e.name, _ = strings.Cut(e.name, "/")
	}
	if c.opts.Index != nil {
		e.index = c.opts.Index(obj)
	}
	return obj, e, nil
}

// putLocked stores obj at key; mu must be held for writing.
func (c *Cache[T]) putLocked(key string, e entry, obj *T) {
	c.deleteLocked(key)
	add := func(m map[string]map[string]*T, k, sub string) {
		if m[k] == nil {
			m[k] = map[string]*T{}
		}
		m[k][sub] = obj
	}
	add(c.byNS, e.namespace, e.name)
	for _, v := range e.index {
		add(c.byIndex, v, e.namespace+"/"+e.name)
	}
	c.keys[key] = e
}

func (c *Cache[T]) deleteLocked(key string) {
	e, ok := c.keys[key]
	if !ok {
		return
	}
	remove := func(m map[string]map[string]*T, k, sub string) {
		delete(m[k], sub)
		if len(m[k]) == 0 {
			delete(m, k)
		}
	}
	remove(c.byNS, e.namespace, e.name)
	for _, v := range e.index {
		remove(c.byIndex, v, e.namespace+"/"+e.name)
	}
	delete(c.keys, key)
}

// relist replaces the contents with a consistent list and returns its
// revision.
func (c *Cache[T]) relist(ctx context.Context) (int64, error) {
	type item struct {
		key string
		e   entry
		obj *T
	}
	var items []item
	var rev int64
	opts := store.ListOptions{Limit: 500}
	for {
		res, err := c.opts.Store.List(ctx, c.prefix, opts)
		if err != nil {
			return 0, fmt.Errorf("watchcache: listing %s: %w", c.opts.Resource, err)
		}
		if rev == 0 {
			rev = res.Revision
		}
		for _, kv := range res.Items {
			obj, e, err := c.decode(kv.Key, kv.Value)
			if err != nil {
				return 0, err
			}
			items = append(items, item{kv.Key, e, obj})
		}
		if res.Continue == "" {
			break
		}
		opts = store.ListOptions{Limit: 500, Continue: res.Continue}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset()
	for _, it := range items {
		c.putLocked(it.key, it.e, it.obj)
	}
	return rev, nil
}

// watch applies the changes after rev until the watch ends.
func (c *Cache[T]) watch(ctx context.Context, rev int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := c.opts.Store.Watch(ctx, c.prefix, rev)
	if err != nil {
		return fmt.Errorf("watchcache: watching %s: %w", c.opts.Resource, err)
	}
	for ev := range events {
		switch ev.Type {
		case store.EventCreate, store.EventUpdate:
			obj, e, err := c.decode(ev.Key, ev.Value)
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.putLocked(ev.Key, e, obj)
			c.mu.Unlock()
		case store.EventDelete:
			c.mu.Lock()
			c.deleteLocked(ev.Key)
			c.mu.Unlock()
		case store.EventError:
			return fmt.Errorf("watchcache: watching %s: %w", c.opts.Resource, ev.Err)
		}
	}
	return nil
}
