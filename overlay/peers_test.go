package overlay

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeBackend records the peers it was given.
type fakeBackend struct {
	peers map[netip.Prefix]LeaseAttrs
	fail  map[netip.Prefix]bool // AddPeer fails for these
	calls []string
}

func (f *fakeBackend) Type() string { return TypeHostGW }
func (f *fakeBackend) Init(context.Context, *Config) (LeaseAttrs, error) {
	return LeaseAttrs{}, nil
}
func (f *fakeBackend) MTU() int                               { return 1500 }
func (f *fakeBackend) Start(context.Context, *Lease) error    { return nil }
func (f *fakeBackend) Cleanup(context.Context, *Config) error { return nil }
func (f *fakeBackend) Close() error                           { return nil }
func (f *fakeBackend) AddPeer(_ context.Context, l *Lease) error {
	f.calls = append(f.calls, "add "+l.Subnet.String())
	if f.fail[l.Subnet] {
		return errors.New("injected failure")
	}
	f.peers[l.Subnet] = l.Attrs
	return nil
}
func (f *fakeBackend) RemovePeer(_ context.Context, l *Lease) error {
	f.calls = append(f.calls, "remove "+l.Subnet.String())
	delete(f.peers, l.Subnet)
	return nil
}

func lease(subnet, ip string) Lease {
	return Lease{Subnet: netip.MustParsePrefix(subnet), Attrs: attrs(ip)}
}

func TestPeersReconcile(t *testing.T) {
	ctx := t.Context()
	be := &fakeBackend{peers: map[netip.Prefix]LeaseAttrs{}, fail: map[netip.Prefix]bool{}}
	own := netip.MustParsePrefix("10.244.1.0/24")
	p := newPeers(be, own, slog.New(slog.DiscardHandler))

	other := lease("10.244.9.0/24", "192.168.0.9")
	other.Attrs.BackendType = TypeVXLAN
	p.reset([]Lease{lease("10.244.1.0/24", "192.168.0.1"), lease("10.244.2.0/24", "192.168.0.2"), other})
	require.NoError(t, p.apply(ctx))
	assert.Equal(t, []string{"add 10.244.2.0/24"}, be.calls, "own lease and other backends are skipped")

	// Unchanged leases cost nothing; a changed one is replaced.
	be.calls = nil
	p.event(LeaseEvent{Type: LeaseAdded, Lease: lease("10.244.2.0/24", "192.168.0.2")})
	require.NoError(t, p.apply(ctx))
	assert.Empty(t, be.calls)
	p.event(LeaseEvent{Type: LeaseAdded, Lease: lease("10.244.2.0/24", "192.168.0.22")})
	require.NoError(t, p.apply(ctx))
	assert.Equal(t, []string{"remove 10.244.2.0/24", "add 10.244.2.0/24"}, be.calls)
	assert.Equal(t, "192.168.0.22", be.peers[netip.MustParsePrefix("10.244.2.0/24")].PublicIP.String())

	// A failed add is retried by the next apply.
	be.calls = nil
	be.fail[netip.MustParsePrefix("10.244.3.0/24")] = true
	p.event(LeaseEvent{Type: LeaseAdded, Lease: lease("10.244.3.0/24", "192.168.0.3")})
	require.Error(t, p.apply(ctx))
	delete(be.fail, netip.MustParsePrefix("10.244.3.0/24"))
	require.NoError(t, p.apply(ctx))
	assert.Equal(t, []string{"add 10.244.3.0/24", "add 10.244.3.0/24"}, be.calls)

	// Removed leases are removed; a fresh list drops what it lacks.
	be.calls = nil
	p.event(LeaseEvent{Type: LeaseRemoved, Lease: lease("10.244.3.0/24", "192.168.0.3")})
	require.NoError(t, p.apply(ctx))
	assert.Equal(t, []string{"remove 10.244.3.0/24"}, be.calls)
	p.reset(nil)
	require.NoError(t, p.apply(ctx))
	assert.Empty(t, be.peers)
}

func TestRetrierBacksOff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	r := &retrier{clock: clk, min: time.Second, max: 5 * time.Second}
	var delays []time.Duration
	for range 5 {
		require.True(t, r.arm())
		require.False(t, r.arm(), "armed twice")
		delays = append(delays, r.delay)
		clk.Step(r.delay)
		<-r.c()
		r.fired()
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, delays)
	r.reset()
	require.True(t, r.arm())
	assert.Equal(t, time.Second, r.delay)
	r.stop()
	assert.Nil(t, r.c())
}
