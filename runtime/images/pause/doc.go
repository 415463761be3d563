// Command pause holds a pod's namespaces: it is the process of a pod
// sandbox's container, which the pod's app containers join. It sleeps until
// SIGTERM or SIGINT and then exits 0; as PID 1 of a shared PID namespace it
// also reaps orphaned children.
//
// It is built statically (CGO_ENABLED=0) into the FROM-scratch image
// gantry.local/pause by package runtime/images.
package main
