package daemonset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/gantryhq/gantry/controller/history"
)

// RevisionName is the name of the ControllerRevision of the DaemonSet's
// template with the given hash.
func RevisionName(ds *appsv1.DaemonSet, hash string) string { return ds.Name + "-" + hash }

// syncRevisions keeps the DaemonSet's template history (package
// controller/history); inUse holds the hash labels of its pods.
func (r *Reconciler) syncRevisions(ctx context.Context, ds *appsv1.DaemonSet, hash string, inUse map[string]bool) error {
	return history.Sync(ctx, r.client, r.revs, history.Owner{
		Object: ds, GVK: gvk, TemplateLabels: ds.Spec.Template.Labels, Limit: ds.Spec.RevisionHistoryLimit,
		Name: RevisionName(ds, hash), Hash: hash, InUse: inUse,
	})
}
