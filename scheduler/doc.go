// Package scheduler assigns pods to nodes.
//
// It watches pods without a node, filters the nodes that can run each one,
// scores those that can and binds the pod to the best through the API
// server's pods/binding subresource. Placement policy is a framework of
// plugins at fixed extension points, or a one-method Algorithm for research;
// scheduler/sim replays workloads against a simulated cluster.
//
// The pieces, from the inside out:
//
//   - Status, CycleState and one interface per extension point
//     (QueueSortPlugin, PreFilterPlugin, FilterPlugin, PostFilterPlugin,
//     PreScorePlugin, ScorePlugin with ScoreExtensions, ReservePlugin,
//     PermitPlugin, PreBindPlugin, BindPlugin, PostBindPlugin). "Does not
//     fit" is a Status with code Unschedulable, never an error.
//   - Registry (explicit map of factories; duplicates are errors), Profile
//     (schedulerName, enabled plugins with score weights) and Framework (a
//     profile's plugins run at the extension points).
//   - Cache (nodes, bound and assumed pods, expiry on an injected clock)
//     and Snapshot (NodeInfo per node with requested sums, pod count,
//     ports, images; refreshed incrementally).
//   - Queue: an active heap ordered by QueueSort, exponential back-off
//     (1s..10s) for pods that failed with an error, and unschedulable pods
//     that wait for a cluster event (ClusterEvent: a node added, cordoned
//     or uncordoned, tainted, relabelled or resized; an assigned pod
//     added, deleted, relabelled or shrunk) and go back to the active
//     queue at once when a plugin that rejected them says the event may
//     help (EnqueueExtensions, QueueingHintFn). A node's heartbeat is no
//     event.
//   - Scheduler: the scheduling cycle (filtering, an adaptive share of
//     nodes to find as in kube-scheduler's percentageOfNodesToScore,
//     scoring, preemption via PostFilter, assume, reserve, permit) and the
//     binding cycle. Filter and score loops run on the scheduling
//     goroutine and spread over a GOMAXPROCS-sized pool only when a loop
//     runs longer than 200 µs (Parallelizer.UntilStop): a typical cycle is
//     shorter than what handing work to another core costs.
//   - Runner: the Scheduler wired to client-go informers, pods/binding,
//     Events (Scheduled, FailedScheduling), Lease leader election, /healthz
//     and Prometheus /metrics.
//
// The default plugins are in scheduler/plugins. The core types start no
// goroutines of their own except the filter/score workers and, with
// Options.AsyncBinding, one per binding cycle; time comes from an injected
// clock.
package scheduler
