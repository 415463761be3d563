package scheduler

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestUntilStopRunsEveryPieceOnce(t *testing.T) {
	for _, workers := range []int{1, 2, 8} {
		for _, pieces := range []int{0, 1, 7, 100, 5000} {
			seen := make([]atomic.Int32, pieces)
			NewParallelizer(workers).UntilStop(context.Background(), pieces, func(i int) bool {
				seen[i].Add(1)
				spin(200) // long enough that the caller shares the rest
				return true
			})
			for i := range seen {
				require.EqualValues(t, 1, seen[i].Load(), "workers=%d pieces=%d piece %d", workers, pieces, i)
			}
		}
	}
}

func TestUntilStopStops(t *testing.T) {
	for _, workers := range []int{1, 2, 8} {
		var ran atomic.Int64
		NewParallelizer(workers).UntilStop(context.Background(), 100000, func(i int) bool {
			ran.Add(1)
			spin(200)
			return i < 3000
		})
		// Pieces already taken finish; nothing near the whole range runs.
		require.Less(t, ran.Load(), int64(50000), "workers=%d", workers)
		require.GreaterOrEqual(t, ran.Load(), int64(3001), "workers=%d", workers)
	}
}

func TestUntilStopHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int64
	NewParallelizer(2).UntilStop(ctx, 1000000, func(i int) bool {
		if ran.Add(1) == 1000 {
			cancel()
		}
		return true
	})
	require.Less(t, ran.Load(), int64(1000000))
}

var spinSink atomic.Uint64

// spin does n rounds of arithmetic (about a nanosecond each).
func spin(n int) {
	x := uint64(n)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	spinSink.Add(x)
}

// BenchmarkUntilStop compares UntilStop with a plain loop over the same
// pieces, for loops far shorter than soloWork (they stay on the caller)
// and far longer (they are shared): ratio-to-serial < 1 is a gain.
func BenchmarkUntilStop(b *testing.B) {
	for _, c := range []struct{ pieces, work int }{{500, 50}, {500, 5000}, {2000, 5000}} {
		b.Run(fmt.Sprintf("pieces=%d/work=%d", c.pieces, c.work), func(b *testing.B) {
			par := NewParallelizer(0)
			var serial, parallel time.Duration
			for b.Loop() {
				t0 := time.Now()
				for i := 0; i < c.pieces; i++ {
					spin(c.work)
				}
				t1 := time.Now()
				par.UntilStop(context.Background(), c.pieces, func(int) bool { spin(c.work); return true })
				serial += t1.Sub(t0)
				parallel += time.Since(t1)
			}
			b.ReportMetric(float64(parallel)/float64(serial), "ratio-to-serial")
		})
	}
}
