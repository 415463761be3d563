package memory

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/gantryhq/gantry/store"
)

const (
	// watchBuffer is the capacity of a watch channel.
	watchBuffer = 128
	// watchScan bounds how many log records a watcher reads per lock hold,
	// so that a watcher catching up does not hold writers back for long.
	watchScan = 1024
)

// Watch streams the changes under prefix after revision afterRevision (0:
// after the current revision, so every write that completes after Watch
// returns is seen). afterRevision may be in the future: the watch then starts
// with the first change after it, as on etcd.
//
// Watch does not block; a goroutine sends the events and closes the channel
// when ctx is done, the store is closed, or the watch is overtaken by a
// compaction (after an EventError wrapping ErrCompacted). If afterRevision
// is below the last compaction, Watch fails with ErrCompacted.
func (s *Store) Watch(ctx context.Context, prefix string, afterRevision int64) (<-chan store.Event, error) {
	if err := s.begin(ctx, prefix); err != nil {
		return nil, err
	}
	if err := store.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	if err := store.ValidateRevision(afterRevision); err != nil {
		return nil, store.NewKeyError(prefix, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return nil, store.NewKeyError(prefix, store.ErrClosed)
	}
	next := afterRevision + 1
	if afterRevision == 0 {
		next = s.rev + 1
	}
	if next <= s.compacted {
		return nil, store.NewKeyError(prefix, fmt.Errorf("watch after revision %d: %w (compacted at %d)", afterRevision, store.ErrCompacted, s.compacted))
	}
	ch := make(chan store.Event, watchBuffer)
	// Added under the lock while not closed, so Close waits for it.
	s.wg.Add(1)
	go s.runWatch(ctx, prefix, next, ch)
	return ch, nil
}

// runWatch is the goroutine of one watch. next is the revision of the next
// log record to look at; the watcher has seen the state at next-1, which
// must stay above the last compaction.
func (s *Store) runWatch(ctx context.Context, prefix string, next int64, ch chan<- store.Event) {
	defer s.wg.Done()
	defer close(ch)

	var batch []store.Event
	send := func(ev store.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	for {
		clear(batch) // let compacted values go
		batch = batch[:0]
		var wait <-chan struct{}
		var compacted error

		s.mu.RLock()
		if s.closed.Load() {
			s.mu.RUnlock()
			return
		}
		if next <= s.compacted {
			// The state before next, where this watcher stands, is
			// compacted.
			compacted = store.NewKeyError(prefix, fmt.Errorf("watch after revision %d: %w (compacted at %d)", next-1, store.ErrCompacted, s.compacted))
		} else {
			for end := min(s.rev, next+watchScan-1); next <= end; next++ {
				r := &s.log[next-s.logStart]
				if strings.HasPrefix(r.key, prefix) {
					// Records are immutable; values are copied below,
					// outside the lock.
					batch = append(batch, store.Event{
						Type:           r.typ,
						Key:            r.key,
						Value:          r.value,
						PrevValue:      r.prev,
						Revision:       next,
						CreateRevision: r.create,
					})
				}
			}
			if next > s.rev {
				wait = s.changed
			}
		}
		s.mu.RUnlock()

		for _, ev := range batch {
			ev.Value = bytes.Clone(ev.Value)
			ev.PrevValue = bytes.Clone(ev.PrevValue)
			if !send(ev) {
				return
			}
		}
		if compacted != nil {
			send(store.Event{Type: store.EventError, Err: compacted})
			return
		}
		if wait != nil {
			select {
			case <-wait:
			case <-ctx.Done():
				return
			case <-s.done:
				return
			}
		}
	}
}
