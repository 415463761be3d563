// Package statefulset holds the StatefulSet controller: pods with stable
// names <set>-<ordinal> and hostname/subdomain (the governing service),
// created in ordinal order and, with the OrderedReady policy, one at a time
// only once every lower ordinal is Ready; scaled down from the highest
// ordinal; a RollingUpdate replaces pods whose controller-revision-hash
// differs from the template's from the highest ordinal down (respecting
// partition), one at a time while the others are Ready. Parallel pod
// management creates and deletes without waiting.
//
// Not done yet: volumeClaimTemplates (PVCs), ControllerRevision history,
// maxUnavailable for rolling updates, and the PVC retention policy.
package statefulset
