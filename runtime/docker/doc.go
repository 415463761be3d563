// Package docker implements runtime.Runtime on Docker Engine through
// github.com/moby/moby/client, negotiating the API version with the daemon
// (it works with Debian's docker.io 20.10, API 1.41).
//
// A pod sandbox is a pause container (images.Pause by default: a static
// program that sleeps until SIGTERM) that holds the pod's network and IPC
// namespaces; every app container of the pod joins them (Docker's
// --network container:<pause> --ipc container:<pause>), so the pod's
// containers share localhost, ports and IPC, and the hostname and DNS
// settings of the sandbox.
//
// A sandbox is attached to the Docker network its config names: host
// networking, the runtime's default network ("bridge"), or a bridge network
// of the given name and pod subnet, which the runtime creates when absent
// (its Linux bridge device gets the same name when that fits in 15
// characters) and reuses afterwards. The pod's IP, from that subnet, is in
// the sandbox's status.
//
// Everything the runtime creates carries the labels of runtime.SandboxLabels
// and runtime.ContainerLabels (and gantry.io/node with Options.NodeName), so
// a restarted node agent finds it with ListSandboxes and ListContainers.
// Annotations are kept in labels of the docker.gantry.io/ prefix, which the
// runtime hides.
package docker
