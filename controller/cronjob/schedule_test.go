package cronjob_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/controller/cronjob"
)

func TestMissedSince(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	for _, tc := range []struct {
		name      string
		schedule  string
		tz        *string
		earliest  string
		now       string
		wantLast  string // "" means none
		wantCount int
		tooMany   bool
	}{
		{"nothing due yet", "*/5 * * * *", nil, "2025-01-01T10:00:30Z", "2025-01-01T10:04:59Z", "", 0, false},
		{"exactly on time", "*/5 * * * *", nil, "2025-01-01T10:00:30Z", "2025-01-01T10:05:00Z", "2025-01-01T10:05:00Z", 1, false},
		{"the earliest time itself is not missed", "*/5 * * * *", nil, "2025-01-01T10:05:00Z", "2025-01-01T10:09:00Z", "", 0, false},
		{"several missed: the most recent", "*/5 * * * *", nil, "2025-01-01T10:00:00Z", "2025-01-01T10:23:00Z", "2025-01-01T10:20:00Z", 4, false},
		{"descriptor", "@hourly", nil, "2025-01-01T10:00:00Z", "2025-01-01T13:30:00Z", "2025-01-01T13:00:00Z", 3, false},
		{"exactly 100", "* * * * *", nil, "2025-01-01T10:00:00Z", "2025-01-01T11:40:00Z", "2025-01-01T11:40:00Z", 100, false},
		{"101 is too many", "* * * * *", nil, "2025-01-01T10:00:00Z", "2025-01-01T11:41:00Z", "2025-01-01T11:41:00Z", 101, true},
		{"a year of minutes", "* * * * *", nil, "2024-01-01T00:00:00Z", "2025-01-01T00:00:30Z", "2025-01-01T00:00:00Z", 527041, true},
		{"irregular schedule over months", "0 9 * * 1-5", ptr.To("Etc/UTC"), "2024-01-01T00:00:00Z", "2024-07-03T12:00:00Z", "2024-07-03T09:00:00Z", 0, true},
		{"time zone", "0 9 * * *", ptr.To("Asia/Tokyo"), "2025-01-01T00:30:00Z", "2025-01-01T02:00:00Z", "", 0, false},
		{"time zone: 9:00 in Tokyo is 00:00Z", "0 9 * * *", ptr.To("Asia/Tokyo"), "2024-12-31T23:00:00Z", "2025-01-01T02:00:00Z", "2025-01-01T00:00:00Z", 1, false},
		{"before DST: 9:00 in Berlin is 08:00Z", "0 9 * * *", ptr.To("Europe/Berlin"), "2025-03-29T00:00:00Z", "2025-03-29T08:00:00Z", "2025-03-29T08:00:00Z", 1, false},
		{"after DST: 9:00 in Berlin is 07:00Z", "0 9 * * *", ptr.To("Europe/Berlin"), "2025-03-29T08:00:00Z", "2025-03-30T07:30:00Z", "2025-03-30T07:00:00Z", 1, false},
		{"a time DST skips does not run", "30 2 * * *", ptr.To("America/New_York"), "2025-03-08T08:00:00Z", "2025-03-10T06:00:00Z", "", 0, false},
		{"the day after DST it runs", "30 2 * * *", ptr.To("America/New_York"), "2025-03-08T08:00:00Z", "2025-03-10T06:30:00Z", "2025-03-10T06:30:00Z", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := cronjob.ParseSchedule(tc.schedule, tc.tz, time.UTC)
			require.NoError(t, err)
			clk := clocktesting.NewFakeClock(utc(tc.now))
			m := cronjob.MissedSince(s, utc(tc.earliest), clk.Now())
			if tc.wantLast == "" {
				require.True(t, m.Last.IsZero(), "missed %v", m.Last)
				require.Zero(t, m.Count)
				return
			}
			require.Equal(t, utc(tc.wantLast), m.Last.UTC())
			require.Equal(t, tc.tooMany, m.Count > cronjob.TooManyMissed, "count %d", m.Count)
			if tc.wantCount > 0 {
				require.InDelta(t, tc.wantCount, m.Count, 1, "count")
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	_, err := cronjob.ParseSchedule("61 * * * *", nil, nil)
	require.Error(t, err)
	_, err = cronjob.ParseSchedule("* * * * *", ptr.To("Nowhere/Atlantis"), nil)
	require.ErrorContains(t, err, "Nowhere/Atlantis")

	// Without spec.timeZone the controller's default location applies.
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	s, err := cronjob.ParseSchedule("0 9 * * *", nil, ny)
	require.NoError(t, err)
	require.Equal(t, time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC), s.Next(at).UTC())
	// spec.timeZone wins over it.
	s, err = cronjob.ParseSchedule("0 9 * * *", ptr.To("Etc/UTC"), ny)
	require.NoError(t, err)
	require.Equal(t, time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC), s.Next(at).UTC())
	// A legacy CRON_TZ= prefix (stored before validation refused it) is
	// honoured.
	s, err = cronjob.ParseSchedule("CRON_TZ=Asia/Tokyo 0 9 * * *", nil, ny)
	require.NoError(t, err)
	require.Equal(t, time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC), s.Next(at).UTC())
}
