// Package deployment holds the Deployment controller. It manages
// ReplicaSets named <deployment>-<pod-template-hash>: the one whose template
// equals the Deployment's is the new ReplicaSet, the others are old.
//
// RollingUpdate scales the new ReplicaSet up and the old ones down while
// keeping at every moment at most replicas+maxSurge pods and at least
// replicas-maxUnavailable available ones; Recreate scales every old
// ReplicaSet to zero, waits until their pods are gone, then scales the new
// one up. Revisions live in the deployment.kubernetes.io/revision annotation
// of the ReplicaSets and the Deployment: a rollback (kubectl rollout undo
// copies an old template back into the Deployment) makes that old
// ReplicaSet new again with the next revision. Paused Deployments are
// scaled but not rolled out; old ReplicaSets beyond revisionHistoryLimit are
// deleted; the Progressing condition turns False with reason
// ProgressDeadlineExceeded when no progress was made within
// progressDeadlineSeconds on the injected clock. The status carries what
// kubectl rollout status reads.
package deployment
