package daemonset

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// defaultHistoryLimit is how many old revisions are kept when
// spec.revisionHistoryLimit is unset (the API server defaults it to 10).
const defaultHistoryLimit = 10

// templatePatch is a revision's data: a strategic merge patch that
// replaces the DaemonSet's spec.template with its current one, the form
// kubectl rollout undo applies back and compares byte for byte with its
// own rendering of the DaemonSet.
func templatePatch(ds *appsv1.DaemonSet) ([]byte, error) {
	b, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	var obj struct {
		Spec struct {
			Template map[string]any `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	obj.Spec.Template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": obj.Spec.Template}})
}

// RevisionName is the name of the ControllerRevision of the DaemonSet's
// template with the given hash.
func RevisionName(ds *appsv1.DaemonSet, hash string) string { return ds.Name + "-" + hash }

// syncRevisions makes sure the current template has a ControllerRevision
// with the highest revision number (creating it, or renumbering it when an
// old template comes back) and deletes the oldest revisions beyond
// spec.revisionHistoryLimit whose hash is not in inUse (the hash labels of
// the DaemonSet's pods).
func (r *Reconciler) syncRevisions(ctx context.Context, ds *appsv1.DaemonSet, hash string, inUse map[string]bool) error {
	all, err := r.revs.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	name := RevisionName(ds, hash)
	var cur *appsv1.ControllerRevision
	var owned []*appsv1.ControllerRevision
	maxRev := int64(0)
	for _, cr := range all {
		if !metav1.IsControlledBy(cr, ds) {
			continue
		}
		if cr.Name == name {
			cur = cr
			continue
		}
		owned = append(owned, cr)
		maxRev = max(maxRev, cr.Revision)
	}
	client := r.client.AppsV1().ControllerRevisions(ds.Namespace)
	switch {
	case cur == nil:
		data, err := templatePatch(ds)
		if err != nil {
			return fmt.Errorf("revision %q: %w", name, err)
		}
		lbls := map[string]string{HashLabel: hash}
		for k, v := range ds.Spec.Template.Labels {
			lbls[k] = v
		}
		var ann map[string]string
		if len(ds.Annotations) > 0 {
			ann = make(map[string]string, len(ds.Annotations))
			for k, v := range ds.Annotations {
				ann[k] = v
			}
		}
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ds.Namespace, Labels: lbls, Annotations: ann,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, gvk)}},
			Data:     runtime.RawExtension{Raw: data},
			Revision: maxRev + 1,
		}
		if _, err := client.Create(ctx, cr, metav1.CreateOptions{}); err != nil {
			// AlreadyExists: the cache has not seen it yet; the
			// revision's own event brings the DaemonSet back.
			if !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create revision %q: %w", name, err)
			}
		}
	case cur.Revision <= maxRev:
		cr := cur.DeepCopy()
		cr.Revision = maxRev + 1
		if _, err := client.Update(ctx, cr, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("renumber revision %q: %w", name, err)
		}
	}
	limit := int(ptr.Deref(ds.Spec.RevisionHistoryLimit, defaultHistoryLimit))
	var old []*appsv1.ControllerRevision
	for _, cr := range owned {
		if !inUse[cr.Labels[HashLabel]] && !inUse[strings.TrimPrefix(cr.Name, ds.Name+"-")] {
			old = append(old, cr)
		}
	}
	if len(old) <= limit {
		return nil
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Revision < old[j].Revision })
	for _, cr := range old[:len(old)-limit] {
		err := client.Delete(ctx, cr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cr.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete revision %q: %w", cr.Name, err)
		}
	}
	return nil
}
