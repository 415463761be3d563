// Package runtime defines the container runtime a node agent drives: pod
// sandboxes (one network namespace per pod), the containers inside them,
// images, logs and exec. runtime/docker implements it on Docker Engine and
// runtime/fake in memory.
package runtime
