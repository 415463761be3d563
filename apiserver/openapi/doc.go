// Package openapi builds the OpenAPI v2 and v3 documents of a gantry API
// server from the Go types it serves, and serves them over HTTP the way the
// Kubernetes API server does, so that kubectl and client-go work unchanged:
//
//   - GET /openapi/v2 returns the whole Swagger 2.0 document as JSON, or as
//     the gnostic protobuf that client-go asks for
//     (application/com.github.proto-openapi.spec.v2@v1.0+protobuf). kubectl
//     uses it for client-side validation (kubectl apply --validate) and
//     client-side strategic merge patches.
//   - GET /openapi/v3 returns the index of the per group-version documents,
//     {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."}}}.
//   - GET /openapi/v3/api/v1 and /openapi/v3/apis/<group>/<version>, with or
//     without the hash, return one OpenAPI 3.0 document per group-version.
//     kubectl explain reads them (1.27+), and kubectl create/apply look for the
//     fieldValidation query parameter on their PATCH operations to decide
//     whether the server validates fields itself.
//
// Schemas come from reflection over the served types (k8s.io/api and
// k8s.io/apimachinery, or any type following their conventions): json tags
// give the field names, omitempty decides what is required, the
// patchStrategy/patchMergeKey tags give the x-kubernetes-patch-* and
// x-kubernetes-list-* extensions, and SwaggerDoc methods give the
// descriptions. Definitions are named after the Go package, as Kubernetes
// does (k8s.io/api/core/v1.Pod is io.k8s.api.core.v1.Pod). Paths and
// operation ids follow the Kubernetes API server
// (readCoreV1NamespacedPod at /api/v1/namespaces/{namespace}/pods/{name}).
//
// Set Config.FieldValidation only when the server honors the fieldValidation
// query parameter: the parameter's presence on PATCH operations is how
// kubectl decides between server-side validation and validating manifests
// itself against /openapi/v2.
//
// Build the documents once at start-up with New (about a tenth of a second
// for two dozen resources; see BenchmarkNew); the result is immutable and
// safe for concurrent use.
package openapi
