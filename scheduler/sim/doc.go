// Package sim is a research harness for scheduling algorithms: a simulated
// cluster (nodes with capacities and labels, no containers) driven by a
// virtual clock, workloads as traces (CSV or JSON lines) or from a seeded
// synthetic generator, and deterministic replay of one trace against
// several profiles or Algorithms with comparable metrics.
//
// A run uses the real scheduler (queue, cache, framework, plugins) with
// one worker and inline binding, so the same trace, profile and seed give
// byte-for-byte the same Result, CSV, JSON and SVG. Only the wall-clock
// decision latency (Result.Wall) varies between runs; it is left out of
// the CSV, JSON and SVG.
package sim
