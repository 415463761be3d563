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
// The agent records the kubelet's events on its Node (in the default
// namespace, the node's name as UID, so kubectl describe node lists them):
// Starting ("Starting kubelet.") when it runs, NodeHasSufficientMemory,
// NodeHasNoDiskPressure and NodeHasSufficientPID when it first posts those
// conditions (and their opposites when they change), NodeNotReady and
// NodeReady when its Ready condition changes ("Node n1 status is now:
// NodeReady"). Those of registration are kept until its pods have synced
// and the event recorder runs.
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
//
// # Static pods
//
// With Options.PodManifestPath (the kubelet's --pod-manifest-path), the
// agent runs the pods described by the files of that directory, one v1
// Pod per YAML or JSON file (files whose names start with a dot are
// skipped; a file that is no valid pod is logged and runs nothing). The
// directory is read at start and every FileCheckFrequency. Each static
// pod runs on this node as <name>-<node> (namespace "default" unless the
// manifest names one), defaulted as the API server would, with a UID and
// kubernetes.io/config.hash computed from the manifest, its path and the
// node, and kubernetes.io/config.source "file". A changed manifest (a new
// hash) stops the old pod and starts the new one; a removed file stops its
// pod. Stopping runs preStop hooks within the pod's grace period.
//
// Static pods are the agent's own: they start before the node registers
// (but Run still fails when the first registration does), and once
// running they are restarted per their restartPolicy with or without the
// API server. Their status is kept by the agent and shown on a mirror
// pod: a copy of the static pod on the API server, annotated
// kubernetes.io/config.mirror with the hash and owned by the Node, which
// the NodeRestriction admission lets a node create for itself only. A
// mirror pod that is deleted (or carries an old hash) is made anew; a
// mirror pod whose static pod is gone is deleted; a mirror pod never runs.
// Static pods may not use service accounts (mirror pods may not), and
// should not refer to API objects: config maps and secrets are read
// through the API server like any pod's.
//
// # Lifecycle hooks
//
// A container's postStart hook (exec, httpGet or sleep) runs once it has
// started, for at most the pod's grace period; if it fails, the container
// is stopped (a FailedPostStartHook event says why) and restarts as its
// restart policy says. A preStop hook runs before a running container is
// stopped (pod deletion, a failed liveness probe, a static pod going),
// within the grace period: the stop gets what the hook left, at least 2s.
// A failing preStop hook is reported (FailedPreStopHook) and the container
// stops all the same. With a zero grace period no preStop hook runs.
//
// # Images
//
// Images are pulled per imagePullPolicy with the credentials of the pod's
// imagePullSecrets (kubernetes.io/dockerconfigjson and
// kubernetes.io/dockercfg secrets, read by name, matched to the image's
// registry and repository path, the most specific first). A missing or
// malformed secret is reported (FailedToRetrieveImagePullSecret) and the
// pull goes on without it. A failed pull shows ErrImagePull, then
// ImagePullBackOff while it is not tried again: BackOff doubling up to
// MaxBackOff, per container.
//
// # Garbage collection
//
// Every ContainerGCInterval the agent removes exited containers of its
// pods beyond MaxPerPodContainer per container of a pod (default 1) and
// MaxContainers on the node, oldest first, never younger than
// MinimumGCAge, and never the newest attempt of a container (its status
// and restart count come from it). Containers of deleted pods go with
// their sandboxes at the next housekeeping. With Options.ImageFSPath (a
// path on the runtime's image filesystem), unused images go too when that
// filesystem is fuller than ImageGCHighThresholdPercent, least recently
// used first (as the agent saw them: use before it started is not known),
// down to ImageGCLowThresholdPercent, sparing PinnedImages and images used
// less than ImageMinimumGCAge ago. Without it images are never removed.
package nodeagent
