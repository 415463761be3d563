package nodeagent

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// objectKey names a config map or secret.
type objectKey struct{ kind, namespace, name string }

// cachedObject is the data of a config map or secret as last read.
type cachedObject struct {
	data    map[string][]byte
	found   bool
	fetched time.Time
}

// objectCache keeps the config maps and secrets volumes read for ttl, so
// that refreshing many pods that read the same object (every pod of a
// namespace reads kube-root-ca.crt) costs one GET per object and ttl. A
// fresh read (a pod whose volumes are not set up yet) always asks the API
// server, so a starting pod sees the latest data. Safe for concurrent use.
type objectCache struct {
	clock clock.PassiveClock
	ttl   time.Duration

	mu      sync.Mutex
	objects map[objectKey]cachedObject
}

func newObjectCache(clk clock.PassiveClock, ttl time.Duration) *objectCache {
	return &objectCache{clock: clk, ttl: ttl, objects: map[objectKey]cachedObject{}}
}

// get returns the object's data, calling fetch unless a read younger than
// ttl is cached and fresh is false. Errors are not cached.
func (c *objectCache) get(ctx context.Context, key objectKey, fresh bool, fetch func(context.Context) (map[string][]byte, bool, error)) (map[string][]byte, bool, error) {
	now := c.clock.Now()
	c.mu.Lock()
	o, ok := c.objects[key]
	c.mu.Unlock()
	if ok && !fresh && now.Sub(o.fetched) < c.ttl {
		return o.data, o.found, nil
	}
	data, found, err := fetch(ctx)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	c.objects[key] = cachedObject{data: data, found: found, fetched: now}
	c.mu.Unlock()
	return data, found, nil
}

// prune drops the objects not read for ttl, so that the cache holds only
// what live pods use.
func (c *objectCache) prune() {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, o := range c.objects {
		if now.Sub(o.fetched) >= 2*c.ttl {
			delete(c.objects, k)
		}
	}
}
