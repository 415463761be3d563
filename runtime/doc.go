// Package runtime defines the container runtime a node agent drives: pod
// sandboxes (one network namespace per pod), the containers inside them,
// images, logs and exec. It is shaped like the Kubernetes Container Runtime
// Interface (CRI), with plain Go structs instead of the CRI protobufs.
//
// Implementations live in subpackages:
//
//   - runtime/docker: Docker Engine through github.com/moby/moby/client; a
//     sandbox is a pause container holding the pod's network and IPC
//     namespaces, app containers join them;
//   - runtime/fake: deterministic and in memory, on an injected clock, with
//     configurable latencies and failures, cheap enough to back thousands of
//     simulated nodes;
//   - runtime/runtimetest: the conformance suite both implementations pass;
//   - runtime/images: builds the project's test images (gantry.local/busybox,
//     gantry.local/pause, gantry.local/echo) locally, without a registry.
//
// # Lifecycle
//
// A node agent runs a pod as: [ImageManager.PullImage] for every image (with
// the pod's pull policy), [SandboxManager.RunSandbox], then for every container
// [ContainerManager.CreateContainer] and [ContainerManager.StartContainer]. It
// tears the pod down with [ContainerManager.StopContainer] (with the pod's
// grace period), [SandboxManager.StopSandbox] and [SandboxManager.RemoveSandbox].
//
// # Labels
//
// Everything a runtime creates carries the labels of [SandboxLabels] and
// [ContainerLabels] (gantry.io/managed=true, the pod's UID, namespace and
// name, the container name and its restart count, the sandbox ID), so a node
// agent that restarts finds what it ran before with [SandboxManager.ListSandboxes]
// and [ContainerManager.ListContainers] and adopts or removes it.
//
// # Errors
//
// Methods return errors wrapping the sentinels of this package ([ErrNotFound],
// [ErrImagePull], [ErrImageNeverPull], ...) together with the object they
// concern; test them with errors.Is.
//
// # Concurrency
//
// Every Runtime is safe for concurrent use. Calls block until the runtime has
// done what they ask (a started container is running or has already exited)
// or their context ends.
package runtime
