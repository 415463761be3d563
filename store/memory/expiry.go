package memory

import (
	"container/heap"
	"time"
)

// expiry is the deadline of a key written with a TTL.
type expiry struct {
	key   string
	at    time.Time
	index int // in expiryHeap
}

// expiryHeap orders expiries by deadline (container/heap).
type expiryHeap []*expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*expiry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// armLocked makes the timer fire at the earliest deadline. Whenever it
// replaces the timer it wakes the expiry goroutine, which then waits on the
// new timer, and which first reads the clock again: a clock stepped between
// reading it here and creating the timer cannot delay an expiry.
func (s *Store) armLocked() {
	if len(s.expiries) == 0 {
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		return
	}
	at := s.expiries[0].at
	if s.timer != nil && at.Equal(s.timerAt) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = s.clock.NewTimer(at.Sub(s.clock.Now()))
	s.timerAt = at
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// expireLocked deletes, each at its own revision, the keys whose deadline has
// passed, earliest first, and re-arms the timer.
func (s *Store) expireLocked() {
	now := s.clock.Now()
	for len(s.expiries) > 0 && !now.Before(s.expiries[0].at) {
		e := heap.Pop(&s.expiries).(*expiry)
		h := s.keys[e.key]
		h.expiry = nil
		if cur, ok := h.current(); ok {
			s.deleteLocked(e.key, h, cur)
		}
	}
	s.armLocked()
}

// runExpiry is the expiry goroutine: it sleeps on the timer for the earliest
// deadline, or until the timer is replaced, and expires what is due.
func (s *Store) runExpiry() {
	defer s.wg.Done()
	var fired <-chan time.Time
	for {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return
		}
		if fired != nil && s.timer != nil && s.timer.C() == fired {
			s.timer = nil // spent: arm a new one even for the same deadline
		}
		s.expireLocked()
		var c <-chan time.Time
		if s.timer != nil {
			c = s.timer.C()
		}
		s.mu.Unlock()

		fired = nil
		select {
		case <-c:
			fired = c
		case <-s.kick:
		case <-s.done:
			return
		}
	}
}
