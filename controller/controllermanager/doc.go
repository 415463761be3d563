// Package controllermanager assembles the controllers of this module into
// one controller manager, the counterpart of kube-controller-manager: one
// shared informer factory, controllers selected by a --controllers style
// list, optional leader election on a Lease, and /healthz (what kubectl get
// componentstatuses checks) plus /metrics on a configurable address. Its
// typed client speaks protobuf by default (Options.ContentType), as
// kube-controller-manager's does.
package controllermanager
