package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/gantryhq/gantry/controller/history"
)

// RevisionName is the name of the ControllerRevision of the StatefulSet's
// template with the given hash; as in Kubernetes it is also the pods'
// controller-revision-hash label and status.currentRevision/updateRevision.
func RevisionName(set *appsv1.StatefulSet, hash string) string { return set.Name + "-" + hash }

// syncRevisions keeps the StatefulSet's template history (package
// controller/history); inUse holds the controller-revision-hash labels of
// its pods (revision names, or bare hashes on pods created before
// revisions were kept).
func (r *Reconciler) syncRevisions(ctx context.Context, set *appsv1.StatefulSet, hash string, inUse map[string]bool) error {
	name := RevisionName(set, hash)
	return history.Sync(ctx, r.client, r.revs, history.Owner{
		Object: set, GVK: gvk, TemplateLabels: set.Spec.Template.Labels, Limit: set.Spec.RevisionHistoryLimit,
		Name: name, Hash: name, InUse: inUse,
	})
}
