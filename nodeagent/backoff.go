package nodeagent

import "time"

// backoff computes back-off delays: delay(n) is base*2^n, capped at max
// (10s doubling to 5 min, as the kubelet's CrashLoopBackOff); restartDelay
// is the crash-loop wait before a container's restart.
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

// restartDelay is the crash-loop wait before restarting a container whose
// attempt number attempt (0: the first run) has exited. As the kubelet
// does, the first restart comes at once and the back-off starts with the
// second: 0, base, 2*base, ... capped at max.
func (b *backoff) restartDelay(attempt uint32) time.Duration {
	if attempt == 0 {
		return 0
	}
	return b.delay(attempt - 1)
}
