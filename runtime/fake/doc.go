// Package fake is an in-memory runtime.Runtime for tests and simulation.
//
// It is deterministic (IDs and pod IPs are handed out in order; all times
// come from an injected k8s.io/utils/clock.Clock), starts no goroutines, and
// keeps a few hundred bytes per container, so thousands of simulated nodes
// can each have one. Containers change state lazily: a container told to
// exit after a minute (Behavior.ExitAfter) is seen exited by the first call
// that looks after the clock passed that minute.
//
// What containers do is configured, not run: Options.Behavior gives each
// container its exit time and code, how it reacts to SIGTERM, the log lines
// it writes and whether it fails to start; Options.Pull is the registry
// (image pull failures); Options.Exec answers exec sessions; the latencies
// delay pulls, sandbox creation and container starts on the clock; and
// SetHealth makes the whole runtime unavailable. The fake runs no processes
// and has no network: it passes the runtimetest suite without the Processes
// and PodNetwork capabilities.
package fake
