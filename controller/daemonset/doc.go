// Package daemonset holds the DaemonSet controller: one pod per eligible
// node (the node matches the template's nodeSelector and its NoSchedule and
// NoExecute taints are tolerated), pinned to the node with a required node
// affinity on metadata.name as Kubernetes does, so the scheduler binds it;
// pods on nodes that are gone or no longer eligible are deleted, except
// that a NoSchedule taint only keeps new pods off (the running one stays,
// counted misscheduled) and only a NoExecute taint evicts. A
// RollingUpdate replaces pods whose controller-revision-hash differs from
// the template's, at most maxUnavailable unavailable at a time; OnDelete
// leaves them. The status counts desired, current, misscheduled, updated,
// ready and available pods.
//
// Each distinct template has a ControllerRevision <ds>-<hash> (the hash is
// the pods' controller-revision-hash label) whose data is a strategic merge
// patch replacing spec.template, which kubectl rollout undo applies back;
// the current template's revision has the highest number (a template that
// comes back is renumbered), and beyond spec.revisionHistoryLimit the
// oldest revisions no pod runs are deleted.
//
// Not done yet: hash collisions (status.collisionCount), maxSurge, and
// node affinity beyond nodeSelector.
package daemonset
