package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lease reuse, after kube-apiserver's leaseManager: a write with a TTL of t
// seconds may attach to a lease granted earlier for the same t, if that lease
// still has at least t seconds to live. To leave room for reuse, leases are
// granted for t plus reusePercent of t (at most maxReuseSeconds).
const (
	reusePercent    = 5
	maxReuseSeconds = 60
)

// ttlSeconds rounds a TTL up to whole seconds, at least one: etcd leases have
// a granularity of one second.
func ttlSeconds(ttl time.Duration) int64 {
	s := int64((ttl + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// reuseSeconds is how many seconds a lease for a TTL of ttl seconds is granted
// beyond ttl so that later writes can share it; 0 means no sharing.
func reuseSeconds(ttl int64) int64 {
	return min(ttl*reusePercent/100, maxReuseSeconds)
}

// leaseCache hands out leases for writes with a TTL. It is safe for
// concurrent use.
type leaseCache struct {
	lease clientv3.Lease
	reuse bool
	now   func() time.Time

	mu    sync.Mutex
	byTTL map[int64]cachedLease // TTL in seconds -> shared lease
}

type cachedLease struct {
	id      clientv3.LeaseID
	expires time.Time // conservative: measured before the grant
}

func newLeaseCache(lease clientv3.Lease, reuse bool) *leaseCache {
	return &leaseCache{lease: lease, reuse: reuse, now: time.Now, byTTL: map[int64]cachedLease{}}
}

// get returns a lease that expires no earlier than ttl seconds from now,
// and whether other writes may share it. It may make a Grant RPC.
func (c *leaseCache) get(ctx context.Context, ttl int64) (id clientv3.LeaseID, shared bool, err error) {
	extra := int64(0)
	if c.reuse {
		extra = reuseSeconds(ttl)
	}
	if extra == 0 {
		resp, err := c.lease.Grant(ctx, ttl)
		if err != nil {
			return clientv3.NoLease, false, err
		}
		return resp.ID, false, nil
	}

	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.byTTL[ttl]; ok && now.Add(time.Duration(ttl)*time.Second).Before(l.expires) {
		return l.id, true, nil
	}
	resp, err := c.lease.Grant(ctx, ttl+extra)
	if err != nil {
		return clientv3.NoLease, false, err
	}
	c.byTTL[ttl] = cachedLease{id: resp.ID, expires: now.Add(time.Duration(ttl+extra) * time.Second)}
	for t, l := range c.byTTL {
		if !now.Before(l.expires) {
			delete(c.byTTL, t)
		}
	}
	return resp.ID, true, nil
}

// release gives back a lease that get returned but no write used: a lease of
// its own is revoked, so that failed writes do not leave leases behind until
// they expire. Best effort.
func (c *leaseCache) release(id clientv3.LeaseID, shared bool) {
	if shared {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	_, _ = c.lease.Revoke(ctx, id)
}

// revokeTimeout bounds the revocation of an unused lease.
const revokeTimeout = 5 * time.Second

// forget drops a lease the server no longer knows (revoked or expired early).
func (c *leaseCache) forget(id clientv3.LeaseID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, l := range c.byTTL {
		if l.id == id {
			delete(c.byTTL, t)
		}
	}
}
