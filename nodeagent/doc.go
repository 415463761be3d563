// Package nodeagent is the node agent (the kubelet): it registers its node,
// keeps its lease and status fresh, and runs the pods bound to the node on a
// runtime.Runtime, reporting their status back to the API server.
//
// An Agent is level-triggered: for every pod bound to its node it compares
// the pod's spec with what the runtime holds (found again by labels after a
// restart, so running containers are adopted, not duplicated), starts what
// is missing, restarts exited containers as the restart policy says with
// crash-loop back-off, stops and removes pods being deleted within their
// grace period, and posts the pod's phase, conditions, IP and container
// statuses. The runtime reports no events; exits are found by polling every
// SyncInterval.
package nodeagent
