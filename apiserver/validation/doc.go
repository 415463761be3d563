// Package validation checks API objects the way a Kubernetes API server
// does before it stores them, and reports what is wrong as a
// field.ErrorList: one field.Error per problem, with the field path
// ("spec.containers[0].image") and the error type (Required, Invalid,
// NotSupported, Duplicate, Forbidden, TooLong, NotFound, TooMany) that
// Kubernetes reports for the same input, so the API server can turn the list
// into a 422 metav1.Status whose causes kubectl and client-go understand.
//
// Validate checks an object about to be created, ValidateUpdate an update
// against the stored object, and ValidateStatusUpdate an update of the
// status subresource; each dispatches on the object's type to the exported
// per-type functions (Pod, PodUpdate, Service, Deployment, ...), which the
// API server or a test can call directly. ValidateScale and ValidateBinding
// check the scale and binding subresources.
//
// The functions expect objects that have been defaulted (package
// apiserver/defaults) and, on create, had their name generated: a field that
// Kubernetes always defaults, such as a pod's restartPolicy, is reported as
// Required when it is empty. What a field must look like follows the
// Kubernetes release matching the k8s.io/api version in go.mod with its
// default feature gates; alpha features are rejected. Error details are
// gantry's own words; paths and types are what clients match on.
//
// Metadata: names are DNS-1123 subdomains except for namespaces and services
// (DNS-1123 labels); an object's namespace is required for namespaced types
// and forbidden for cluster-scoped ones (see Rules); name, namespace, uid and
// creationTimestamp are immutable. metadata.resourceVersion is the
// store's business (optimistic concurrency) and is not checked here.
//
// All functions are pure: they read their arguments, never modify them, keep
// no state and are safe to call concurrently.
package validation
