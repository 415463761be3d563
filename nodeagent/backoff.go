package nodeagent

import "time"

// backoff tracks crash-loop back-off per container: the delay before the
// n-th restart is base*2^(n-1), capped at max (10s doubling to 5 min, as
// the kubelet's CrashLoopBackOff).
type backoff struct {
	base, max time.Duration
}

func newBackoff(base, max time.Duration) *backoff { return &backoff{base: base, max: max} }

// delay is the wait before restart number restarts+1.
func (b *backoff) delay(restarts uint32) time.Duration {
	d := b.base
	for i := uint32(0); i < restarts && d < b.max; i++ {
		d *= 2
	}
	if d > b.max {
		d = b.max
	}
	return d
}
