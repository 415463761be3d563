// Package defaults fills in the fields a Kubernetes API server defaults
// before it validates and stores an object.
//
// The functions work on the k8s.io/api Go types in place: Apply dispatches on
// the object's type, and one exported function per type (Pod, PodSpec,
// Service, Deployment, Job, ...) does the work, so that a caller holding a
// typed object, or an object nested in another (a pod template in a
// Deployment), can default just that part.
//
// The values are the ones Kubernetes applies in its API defaulting
// (restartPolicy Always, dnsPolicy ClusterFirst, terminationGracePeriodSeconds
// 30, imagePullPolicy from the image tag, probe timings, service type
// ClusterIP, deployment strategy RollingUpdate 25%/25%, ...). Like
// Kubernetes, a few "normalizations" that Kubernetes performs while converting
// between API versions are applied too, because gantry stores the v1 types
// directly: pod.spec.serviceAccount mirrors serviceAccountName, status.podIP
// mirrors status.podIPs[0], node.spec.podCIDR mirrors podCIDRs[0], and a
// service's clusterIPs is filled from clusterIP.
//
// What is not a default and is therefore left to the API server's create and
// update path (or to admission): a namespace's spec.finalizers
// ["kubernetes"], generated names, a Job's generated selector (see
// JobSelector, which needs the UID), pod priority from its PriorityClass, the
// service account admission's serviceAccountName "default", the not-ready and
// unreachable tolerations, and service IP, IP family and node port
// allocation.
//
// Every function is idempotent: applying the defaults twice gives the same
// object as applying them once. The functions never keep references to their
// argument, allocate no goroutines and are safe to call concurrently on
// different objects; an object must not be defaulted while another goroutine
// reads or writes it.
package defaults
