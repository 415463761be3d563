package controller

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ExpectationsTimeout is how long unfulfilled expectations hold a
// controller back before it acts again anyway (a lost watch event must not
// wedge it forever).
const ExpectationsTimeout = 5 * time.Minute

// Expectations remember, per controller key, how many creations and
// deletions were issued but not yet seen through the informers, so that a
// controller does not act twice on a stale cache (over-creating pods while
// the watch catches up). Safe for concurrent use.
type Expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	adds, dels int
	at         time.Time
}

// NewExpectations returns empty expectations timed by clk (nil: real).
func NewExpectations(clk clock.PassiveClock) *Expectations {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Expectations{clock: clk, m: map[string]*expectation{}}
}

// Expect records that adds creations and dels deletions are about to be
// issued for key, replacing earlier expectations.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, dels: dels, at: e.clock.Now()}
}

// Observed lowers the expectations of key by adds and dels (an informer saw
// a creation or deletion, or the request failed and will not be seen).
func (e *Expectations) Observed(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds -= adds
		x.dels -= dels
	}
}

// Satisfied reports whether key has nothing outstanding (or its
// expectations are older than ExpectationsTimeout).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	return (x.adds <= 0 && x.dels <= 0) || e.clock.Since(x.at) > ExpectationsTimeout
}

// Forget drops the expectations of key (its object is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
