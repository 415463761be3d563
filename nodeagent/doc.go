// Package nodeagent is the node agent (the kubelet): it registers its node,
// keeps its lease and status fresh, and runs the pods bound to the node on a
// runtime.Runtime, reporting their status back to the API server.
package nodeagent
