package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

// BenchmarkCreate measures creating keys in a store that already holds
// existing keys, spread over the key space as a cluster's objects are
// (one prefix per namespace), and reports ratio-to-1k: the time per create
// over the time per create with 1,000 existing keys, measured in the same
// run. A create should cost about the same however many keys there are:
//
//	go test ./store/memory -run '^$' -bench BenchmarkCreate
//
// Measured on the 2-core development machine: with a sorted slice of keys
// (before the B-tree) 100,000 existing keys cost 14x the 1,000-key create
// (134 µs); with the B-tree 100,000 and 1,000,000 stay within 0.4-3x
// (garbage collection of the larger heap and other load; no growth with
// the key count).
func BenchmarkCreate(b *testing.B) {
	createNanos(b, 1000, 20000) // warm up
	base := createNanos(b, 1000, 20000)
	for _, existing := range []int{1000, 100000, 1000000} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			per := createNanos(b, existing, b.N)
			b.ReportMetric(per, "ns/create")
			b.ReportMetric(per/base, "ratio-to-1k")
		})
	}
}

// createNanos fills a store with existing keys (untimed), then creates n
// keys interleaved with them and returns the nanoseconds per create.
func createNanos(b *testing.B, existing, n int) float64 {
	b.Helper()
	s := memory.New(memory.Options{})
	defer s.Close()
	ctx := b.Context()
	value := []byte(`{"kind":"Pod"}`)
	for i := range existing {
		if _, err := s.Create(ctx, fmt.Sprintf("/registry/pods/ns-%03d/pod-%07d-a", i%100, i), value, store.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for i := range n {
		if _, err := s.Create(ctx, fmt.Sprintf("/registry/pods/ns-%03d/pod-%07d-b", i%100, i), value, store.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}
