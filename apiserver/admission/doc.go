// Package admission is the home of the API server's admission plugins
// beyond the authorization ones: each subpackage is one plugin, a value
// implementing apiserver.MutatingAdmission and/or
// apiserver.ValidatingAdmission that is listed in apiserver.Options.Admission.
//
//   - limitranger: LimitRanges default and bound the resources of pods.
//   - resourcequota: ResourceQuotas cap what a namespace's objects use.
//   - priority: pods get the priority of their PriorityClass.
//   - defaulttolerationseconds: pods created without tolerations of the
//     not-ready and unreachable NoExecute taints tolerate them for 300 s,
//     so that the node lifecycle controller evicts them five minutes
//     after their node goes.
//   - alwayspullimages: every container pulls its image (multi-tenant
//     clusters, where cached private images must not be reused without
//     credentials).
//
// Masters list them in the order of Kubernetes: LimitRanger's defaults
// before validation, ResourceQuota last, so that it charges what is
// stored.
package admission
