// Package limitranger is the LimitRanger admission plugin: the
// LimitRanges of a namespace default and bound the compute resources of
// the pods created there, as in Kubernetes.
//
// As a mutating plugin ([Plugin.Admit]), it gives every container and init
// container that does not say so the limits of a Container item's default
// and the requests of its defaultRequest (the API server defaults a
// LimitRange's defaultRequest to its default, and its default to its max).
// As a validating plugin ([Plugin.Validate]), it denies, with 403
// Forbidden, a pod whose containers (Container items) or whole pod (Pod
// items: the sum over its containers) request less than min, limit more
// than max, leave out a request a min needs or a limit a max needs, or
// exceed maxLimitRequestRatio. The message names the bound, the container
// and the LimitRange:
//
//	maximum cpu usage per Container is 1, but limit is 2 (container "web", LimitRange "limits")
//
// Only pod creates are handled: the resources of a pod's containers cannot
// change afterwards. PersistentVolumeClaim items are stored but not
// enforced.
package limitranger
