package scheduler_test

import "time"

var benchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
