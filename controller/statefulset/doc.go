// Package statefulset holds the StatefulSet controller: pods with stable
// names <set>-<ordinal> and hostname/subdomain (the governing service),
// created in ordinal order and, with the OrderedReady policy, one at a time
// only once every lower ordinal is Ready; scaled down from the highest
// ordinal; a RollingUpdate replaces pods whose controller-revision-hash
// differs from the template's from the highest ordinal down (respecting
// partition), one at a time while the others are Ready. Parallel pod
// management creates and deletes without waiting.
//
// Each distinct template has a ControllerRevision <set>-<hash>, whose name
// is the pods' controller-revision-hash label and status.updateRevision
// (status.currentRevision until every pod runs it); its data is a strategic
// merge patch replacing spec.template, which kubectl rollout undo applies
// back. The current template's revision has the highest number (a template
// that comes back is renumbered), and beyond spec.revisionHistoryLimit the
// oldest revisions no pod runs are deleted.
//
// Not done yet: volumeClaimTemplates (PVCs), hash collisions
// (status.collisionCount), maxUnavailable for rolling updates, and the PVC retention policy.
package statefulset
