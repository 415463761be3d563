package cronjob

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// TooManyMissed is how many missed schedule times a cron job may have
// before the controller warns (TooManyMissedTimes): more usually means a
// clock that jumped, or a controller that was down for long.
const TooManyMissed = 100

// ParseSchedule parses a cron job's schedule (a standard five-field spec
// or a descriptor such as @hourly) in the time zone tz; nil tz means def
// (the controller manager's local time, as in Kubernetes). A legacy TZ= or
// CRON_TZ= prefix in the schedule wins over def when tz is nil.
func ParseSchedule(schedule string, tz *string, def *time.Location) (cron.Schedule, error) {
	loc := def
	if tz != nil {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", *tz, err)
		}
		loc = l
	}
	if loc == nil {
		loc = time.Local
	}
	hasTZ := strings.HasPrefix(schedule, "TZ=") || strings.HasPrefix(schedule, "CRON_TZ=")
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", schedule, err)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok && (tz != nil || !hasTZ) {
		spec.Location = loc
	}
	return s, nil
}

// Missed is what a cron job missed between its last run and now.
type Missed struct {
	// Last is the most recent schedule time in (earliest, now]; zero when
	// there is none.
	Last time.Time
	// Count is how many schedule times fell in (earliest, now]; beyond
	// TooManyMissed it is an estimate from the schedule's interval.
	Count int
}

// MissedSince returns the schedule times of s missed after earliest (the
// last schedule time, or the cron job's creation) up to and including now.
// It walks the schedule while there are at most TooManyMissed times, then
// jumps close to now, so a long outage costs no more than a short one.
func MissedSince(s cron.Schedule, earliest, now time.Time) Missed {
	var m Missed
	t := s.Next(earliest)
	for !t.IsZero() && !t.After(now) {
		m.Last = t
		m.Count++
		if m.Count > TooManyMissed {
			return jumpToNow(s, m, now)
		}
		t = s.Next(t)
	}
	return m
}

// jumpToNow finds the last schedule time up to now once more than
// TooManyMissed were seen (m.Last is one of them): it looks back from now
// over a window that doubles until it holds a schedule time, then walks
// that window.
func jumpToNow(s cron.Schedule, m Missed, now time.Time) Missed {
	next := s.Next(m.Last)
	interval := next.Sub(m.Last)
	if interval <= 0 {
		interval = time.Minute
	}
	for w := interval; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(m.Last) {
			from = m.Last
		}
		t := s.Next(from)
		if t.IsZero() || t.After(now) {
			if from.Equal(m.Last) {
				return m
			}
			continue
		}
		if from.After(m.Last) {
			// The times between m.Last and from, estimated with the
			// interval seen so far.
			m.Count += int(from.Sub(m.Last) / interval)
		}
		for ; !t.IsZero() && !t.After(now); t = s.Next(t) {
			m.Last = t
			m.Count++
		}
		return m
	}
}
