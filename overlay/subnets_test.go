package overlay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in          string
		wantErr           bool
		subnetLen         int
		min, max, backend string
		count             int
	}{
		{name: "flannel default", in: `{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}`,
			subnetLen: 24, min: "10.244.1.0", max: "10.244.255.0", backend: "vxlan", count: 255},
		{name: "defaults", in: `{"Network":"10.1.0.0/16"}`, subnetLen: 24, min: "10.1.1.0", max: "10.1.255.0", backend: "vxlan", count: 255},
		{name: "small network", in: `{"Network":"10.1.0.0/24","Backend":{"Type":"host-gw"}}`, subnetLen: 26, min: "10.1.0.64", max: "10.1.0.192", backend: "host-gw", count: 3},
		{name: "bounds", in: `{"Network":"10.1.0.0/16","SubnetMin":"10.1.10.0","SubnetMax":"10.1.12.0"}`, subnetLen: 24, min: "10.1.10.0", max: "10.1.12.0", backend: "vxlan", count: 3},
		{name: "unmasked network", in: `{"Network":"10.1.2.3/16"}`, subnetLen: 24, min: "10.1.1.0", max: "10.1.255.0", backend: "vxlan", count: 255},
		{name: "no network", in: `{}`, wantErr: true},
		{name: "ipv6", in: `{"Network":"fd00::/64"}`, wantErr: true},
		{name: "subnet too short", in: `{"Network":"10.1.0.0/16","SubnetLen":16}`, wantErr: true},
		{name: "subnet too long", in: `{"Network":"10.1.0.0/16","SubnetLen":31}`, wantErr: true},
		{name: "min off grid", in: `{"Network":"10.1.0.0/16","SubnetMin":"10.1.1.5"}`, wantErr: true},
		{name: "min above max", in: `{"Network":"10.1.0.0/16","SubnetMin":"10.1.9.0","SubnetMax":"10.1.8.0"}`, wantErr: true},
		{name: "unknown backend", in: `{"Network":"10.1.0.0/16","Backend":{"Type":"udp"}}`, wantErr: true},
		{name: "bad VNI", in: `{"Network":"10.1.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}`, wantErr: true},
		{name: "not json", in: `Network`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.in))
			if tc.wantErr {
				require.ErrorIs(t, err, ErrInvalidConfig)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.subnetLen, c.SubnetLen)
			assert.Equal(t, tc.min, c.SubnetMin.String())
			assert.Equal(t, tc.max, c.SubnetMax.String())
			assert.Equal(t, tc.backend, c.Backend.Type)
			assert.Len(t, c.Subnets(), tc.count)
			// What is stored parses back to the same configuration.
			data, err := c.Marshal()
			require.NoError(t, err)
			again, err := ParseConfig(data)
			require.NoError(t, err)
			assert.Equal(t, c, again)
		})
	}
}

func TestSubnetKeyName(t *testing.T) {
	s := netip.MustParsePrefix("10.244.3.0/24")
	assert.Equal(t, "10.244.3.0-24", SubnetKeyName(s))
	got, err := ParseSubnetKeyName("10.244.3.0-24")
	require.NoError(t, err)
	assert.Equal(t, s, got)
	for _, bad := range []string{"10.244.3.0", "10.244.3.1-24", "x-24", "10.244.3.0-33"} {
		_, err := ParseSubnetKeyName(bad)
		assert.Error(t, err, bad)
	}
}

func TestSubnetEnvRoundTrip(t *testing.T) {
	e := SubnetEnv{
		Network: netip.MustParsePrefix("10.244.0.0/16"),
		Subnet:  netip.MustParsePrefix("10.244.3.1/24"),
		MTU:     1450,
		IPMasq:  true,
	}
	assert.Equal(t, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n", string(e.Marshal()))
	path := t.TempDir() + "/run/subnet.env"
	require.NoError(t, WriteSubnetEnv(path, e))
	got, err := ReadSubnetEnv(path)
	require.NoError(t, err)
	assert.Equal(t, e, got)
	_, err = ParseSubnetEnv([]byte("FLANNEL_MTU=x\n"))
	assert.Error(t, err)
}

// fixture is a memory store on a fake clock with a network configuration.
type fixture struct {
	store *memory.Store
	clock *clocktesting.FakeClock
	cfg   *Config
}

func newFixture(t *testing.T, network string) *fixture {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := memory.New(memory.Options{Clock: clk})
	t.Cleanup(func() { s.Close() })
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`{"Network":%q,"Backend":{"Type":"host-gw"}}`, network)))
	require.NoError(t, err)
	f := &fixture{store: s, clock: clk, cfg: cfg}
	require.NoError(t, f.manager(t, time.Hour).SetConfig(t.Context(), cfg))
	return f
}

func (f *fixture) manager(t *testing.T, ttl time.Duration) *SubnetManager {
	t.Helper()
	m, err := NewSubnetManager(SubnetManagerOptions{Store: f.store, TTL: ttl, Now: f.clock.Now})
	require.NoError(t, err)
	return m
}

// expireUpTo steps the clock by d and returns once the store has expired
// every key due by then: it waits for a probe key that expires last.
func (f *fixture) expireUpTo(t *testing.T, d time.Duration) {
	t.Helper()
	probe := fmt.Sprintf("/probe/%d", f.store.Revision())
	_, err := f.store.Create(t.Context(), probe, []byte("x"), store.WriteOptions{TTL: d})
	require.NoError(t, err)
	f.clock.Step(d)
	require.Eventually(t, func() bool {
		_, err := f.store.Get(context.Background(), probe)
		return errors.Is(err, store.ErrNotFound)
	}, 10*time.Second, time.Millisecond, "store did not expire its keys")
}

func attrs(ip string) LeaseAttrs {
	return LeaseAttrs{PublicIP: netip.MustParseAddr(ip), BackendType: TypeHostGW}
}

func TestAcquire(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, "10.244.0.0/16")
	m := f.manager(t, time.Hour)

	a, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.1"), AcquireOptions{})
	require.NoError(t, err)
	assert.Equal(t, "10.244.1.0/24", a.Subnet.String(), "the first subnet holds the network address and is skipped")
	assert.Equal(t, f.clock.Now().Add(time.Hour), a.Expiration)

	b, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.2"), AcquireOptions{})
	require.NoError(t, err)
	assert.Equal(t, "10.244.2.0/24", b.Subnet.String())

	// The stored form is flannel's.
	kv, err := f.store.Get(ctx, "/coreos.com/network/subnets/10.244.1.0-24")
	require.NoError(t, err)
	assert.JSONEq(t, `{"PublicIP":"192.168.0.1","BackendType":"host-gw"}`, string(kv.Value))

	// A restarted node gets its subnet back, with a fresh TTL and its new
	// attributes.
	f.clock.Step(10 * time.Minute)
	restarted := attrs("192.168.0.1")
	restarted.BackendData = []byte(`{"VtepMAC":"x"}`)
	again, err := m.Acquire(ctx, f.cfg, restarted, AcquireOptions{})
	require.NoError(t, err)
	assert.Equal(t, a.Subnet, again.Subnet)
	assert.Greater(t, again.Revision, a.Revision)
	assert.Equal(t, f.clock.Now().Add(time.Hour), again.Expiration)
	leases, _, err := m.Leases(ctx)
	require.NoError(t, err)
	require.Len(t, leases, 2)
	assert.True(t, leases[0].Attrs.Equal(restarted))

	// A preferred subnet is taken when free, and ignored when not.
	c, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.3"), AcquireOptions{Prefer: netip.MustParsePrefix("10.244.77.0/24")})
	require.NoError(t, err)
	assert.Equal(t, "10.244.77.0/24", c.Subnet.String())
	d, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.4"), AcquireOptions{Prefer: netip.MustParsePrefix("10.244.77.0/24")})
	require.NoError(t, err)
	assert.Equal(t, "10.244.3.0/24", d.Subnet.String())
}

func TestAcquireExhausted(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, "10.9.0.0/22") // subnets 10.9.1.0, 10.9.2.0, 10.9.3.0
	m := f.manager(t, time.Hour)
	for i := 1; i <= 3; i++ {
		_, err := m.Acquire(ctx, f.cfg, attrs(fmt.Sprintf("192.168.0.%d", i)), AcquireOptions{})
		require.NoError(t, err)
	}
	_, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.4"), AcquireOptions{})
	require.ErrorIs(t, err, ErrNoFreeSubnet)
	assert.Contains(t, err.Error(), "192.168.0.4")
	// A node that has a lease still gets it.
	_, err = m.Acquire(ctx, f.cfg, attrs("192.168.0.2"), AcquireOptions{})
	require.NoError(t, err)
}

func TestAcquireConcurrent(t *testing.T) {
	f := newFixture(t, "10.9.0.0/20")
	m := f.manager(t, time.Hour)
	const nodes = 15
	var wg sync.WaitGroup
	got := make([]*Lease, nodes)
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			got[i], errs[i] = m.Acquire(t.Context(), f.cfg, attrs(fmt.Sprintf("192.168.0.%d", i+1)), AcquireOptions{})
		})
	}
	wg.Wait()
	seen := map[netip.Prefix]bool{}
	for i := range nodes {
		require.NoError(t, errs[i])
		assert.False(t, seen[got[i].Subnet], "subnet %s handed out twice", got[i].Subnet)
		seen[got[i].Subnet] = true
	}
	// All 15 subnets are taken now.
	_, err := m.Acquire(t.Context(), f.cfg, attrs("192.168.1.1"), AcquireOptions{})
	require.ErrorIs(t, err, ErrNoFreeSubnet)
}

func TestLeaseExpiryAndRenew(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, "10.244.0.0/16")
	m := f.manager(t, time.Minute)
	a, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.1"), AcquireOptions{})
	require.NoError(t, err)

	// Renewed before expiry, the lease outlives its first TTL.
	f.expireUpTo(t, 50*time.Second)
	a, err = m.Renew(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, f.clock.Now().Add(time.Minute), a.Expiration)
	f.expireUpTo(t, 50*time.Second) // 100s after the first write
	_, err = f.store.Get(ctx, m.LeaseKey(a.Subnet))
	require.NoError(t, err, "renewed lease expired")

	// Not renewed, it expires and the subnet is free again.
	f.expireUpTo(t, 20*time.Second)
	_, err = f.store.Get(ctx, m.LeaseKey(a.Subnet))
	require.ErrorIs(t, err, store.ErrNotFound)

	// Renewing an expired lease whose subnet is still free takes it again.
	a, err = m.Renew(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, "10.244.1.0/24", a.Subnet.String())

	// Once another node has taken the subnet, the lease is lost.
	f.expireUpTo(t, 2*time.Minute)
	b, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.2"), AcquireOptions{})
	require.NoError(t, err)
	assert.Equal(t, a.Subnet, b.Subnet)
	_, err = m.Renew(ctx, a)
	require.ErrorIs(t, err, ErrLeaseLost)
}

func TestRenewAfterRestartedWriter(t *testing.T) {
	// A renewal with a stale revision (the node's previous life wrote the
	// lease since) still succeeds: the lease is the node's.
	ctx := t.Context()
	f := newFixture(t, "10.244.0.0/16")
	m := f.manager(t, time.Hour)
	a, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.1"), AcquireOptions{})
	require.NoError(t, err)
	_, err = m.Acquire(ctx, f.cfg, attrs("192.168.0.1"), AcquireOptions{})
	require.NoError(t, err)
	r, err := m.Renew(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, a.Subnet, r.Subnet)
}

func TestWatchEvents(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, "10.244.0.0/16")
	m := f.manager(t, time.Minute)
	_, rev, err := m.Leases(ctx)
	require.NoError(t, err)
	events, err := m.Watch(ctx, rev)
	require.NoError(t, err)
	next := func() LeaseEvent {
		t.Helper()
		select {
		case ev := <-events:
			le, err := m.Event(ev)
			require.NoError(t, err)
			return le
		case <-time.After(10 * time.Second):
			t.Fatal("no lease event")
		}
		return LeaseEvent{}
	}
	a, err := m.Acquire(ctx, f.cfg, attrs("192.168.0.1"), AcquireOptions{})
	require.NoError(t, err)
	ev := next()
	assert.Equal(t, LeaseAdded, ev.Type)
	assert.Equal(t, a.Subnet, ev.Lease.Subnet)
	assert.Equal(t, a.Attrs.PublicIP, ev.Lease.Attrs.PublicIP)

	_, err = m.Renew(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, LeaseAdded, next().Type)

	f.clock.Step(2 * time.Minute)
	ev = next()
	assert.Equal(t, LeaseRemoved, ev.Type)
	assert.Equal(t, a.Subnet, ev.Lease.Subnet)
	assert.Equal(t, a.Attrs.PublicIP, ev.Lease.Attrs.PublicIP)

	_, err = m.Event(store.Event{Type: store.EventError, Err: store.ErrCompacted})
	assert.ErrorIs(t, err, store.ErrCompacted)
}

func TestConfigMissing(t *testing.T) {
	s := memory.New(memory.Options{})
	t.Cleanup(func() { s.Close() })
	m, err := NewSubnetManager(SubnetManagerOptions{Store: s, Prefix: "/gov/net/"})
	require.NoError(t, err)
	assert.Equal(t, "/gov/net/config", m.ConfigKey())
	_, err = m.Config(t.Context())
	require.ErrorIs(t, err, ErrNoConfig)
	assert.Contains(t, err.Error(), "/gov/net/config")
}

func TestWaitConfig(t *testing.T) {
	s := memory.New(memory.Options{})
	t.Cleanup(func() { s.Close() })
	m, err := NewSubnetManager(SubnetManagerOptions{Store: s})
	require.NoError(t, err)
	// A key that merely shares the prefix does not end the wait.
	_, err = s.Create(t.Context(), m.ConfigKey()+"-not", []byte("{}"), store.WriteOptions{})
	require.NoError(t, err)

	got := make(chan error, 1)
	var cfg *Config
	go func() {
		var err error
		cfg, err = m.WaitConfig(t.Context())
		got <- err
	}()
	want, err := ParseConfig([]byte(`{"Network":"10.5.0.0/16"}`))
	require.NoError(t, err)
	require.NoError(t, m.SetConfig(t.Context(), want))
	select {
	case err := <-got:
		require.NoError(t, err)
		assert.Equal(t, want, cfg)
	case <-time.After(10 * time.Second):
		t.Fatal("WaitConfig did not return")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s2 := memory.New(memory.Options{})
	t.Cleanup(func() { s2.Close() })
	m2, err := NewSubnetManager(SubnetManagerOptions{Store: s2})
	require.NoError(t, err)
	_, err = m2.WaitConfig(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
