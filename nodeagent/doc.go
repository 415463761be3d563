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
//
// # Volumes
//
// Before a pod's sandbox starts, the agent makes its volumes under
// Options.RootDir, in pods/<uid>/volumes/<plugin>/<name> (plugin as the
// kubelet names it, e.g. kubernetes.io~configmap), and binds them into the
// containers at their volumeMounts:
//
//   - emptyDir: a directory every user of the pod may write; with medium
//     Memory a tmpfs (of sizeLimit) when the agent runs as root, else a
//     directory on disk. On disk, sizeLimit is not enforced.
//   - hostPath: the node's path, checked against its type (Directory, File,
//     Socket, CharDevice, BlockDevice) or made (DirectoryOrCreate,
//     FileOrCreate; with no type a missing path is made a directory).
//   - configMap, secret, downwardAPI and projected (config maps, secrets,
//     downward API fields and service account tokens merged): files with
//     items' paths and modes (default 0644), mounted read-only. The agent
//     reads config maps and secrets by name (the node authorizer lets it
//     read what its pods refer to) and asks for tokens bound to the pod
//     with the TokenRequest API, renewing them after 80% of their lifetime
//     or 24 hours.
//
// Files are written as Kubernetes users rely on: into a new timestamped
// directory, published by renaming the symlink ..data to it, with every
// user-visible name a symlink through ..data, so that a reader sees an
// update whole or not at all. Contents are refreshed on the periodic sync
// (config maps and secrets read at most once per SyncInterval for all pods);
// when a refresh fails, the old content stays. A source the pod needs that
// is missing (a config map, a secret, an item's key, unless optional) keeps
// the pod waiting, its containers ContainerCreating with the reason in the
// message and a FailedMount event, until it appears.
//
// A subPath (or subPathExpr) must stay inside its volume: it is resolved
// without leaving the volume ("..", or symlinks leading out, are refused
// with CreateContainerConfigError) and, when the agent may mount, the
// resolved file is bind-mounted to pods/<uid>/volume-subpaths so that later
// symlink swaps by a container change nothing. Directories on the way are
// made.
//
// The directories of a pod go when it is deleted, and those of pods gone
// while the agent was away at the next housekeeping; nothing is removed
// while anything is still mounted below it. Each pod directory is locked
// (flock) while its agent keeps it, so agents sharing a root directory by
// mistake never remove each other's pods. Secrets are written under the
// private (0750) pods directory and never logged. Security contexts'
// fsGroup and runAsUser do not change file ownership.
package nodeagent
