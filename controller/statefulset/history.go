package statefulset

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
// replaces the StatefulSet's spec.template with its current one, the form
// kubectl rollout undo applies back and compares byte for byte with its
// own rendering of the StatefulSet.
func templatePatch(set *appsv1.StatefulSet) ([]byte, error) {
	b, err := json.Marshal(set)
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

// RevisionName is the name of the ControllerRevision of the StatefulSet's
// template with the given hash; as in Kubernetes it is also the pods'
// controller-revision-hash label and status.currentRevision/updateRevision.
func RevisionName(set *appsv1.StatefulSet, hash string) string { return set.Name + "-" + hash }

// syncRevisions makes sure the current template has a ControllerRevision
// with the highest revision number (creating it, or renumbering it when an
// old template comes back) and deletes the oldest revisions beyond
// spec.revisionHistoryLimit not in inUse (the controller-revision-hash
// labels of the StatefulSet's pods: revision names, or bare hashes on
// pods created before revisions were kept).
func (r *Reconciler) syncRevisions(ctx context.Context, set *appsv1.StatefulSet, hash string, inUse map[string]bool) error {
	all, err := r.revs.ControllerRevisions(set.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	name := RevisionName(set, hash)
	var cur *appsv1.ControllerRevision
	var owned []*appsv1.ControllerRevision
	maxRev := int64(0)
	for _, cr := range all {
		if !metav1.IsControlledBy(cr, set) {
			continue
		}
		if cr.Name == name {
			cur = cr
			continue
		}
		owned = append(owned, cr)
		maxRev = max(maxRev, cr.Revision)
	}
	client := r.client.AppsV1().ControllerRevisions(set.Namespace)
	switch {
	case cur == nil:
		data, err := templatePatch(set)
		if err != nil {
			return fmt.Errorf("revision %q: %w", name, err)
		}
		lbls := map[string]string{HashLabel: name}
		for k, v := range set.Spec.Template.Labels {
			lbls[k] = v
		}
		var ann map[string]string
		if len(set.Annotations) > 0 {
			ann = make(map[string]string, len(set.Annotations))
			for k, v := range set.Annotations {
				ann[k] = v
			}
		}
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: set.Namespace, Labels: lbls, Annotations: ann,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, gvk)}},
			Data:     runtime.RawExtension{Raw: data},
			Revision: maxRev + 1,
		}
		if _, err := client.Create(ctx, cr, metav1.CreateOptions{}); err != nil {
			// AlreadyExists: the cache has not seen it yet; the
			// revision's own event brings the StatefulSet back.
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
	limit := int(ptr.Deref(set.Spec.RevisionHistoryLimit, defaultHistoryLimit))
	var old []*appsv1.ControllerRevision
	for _, cr := range owned {
		if !inUse[cr.Name] && !inUse[strings.TrimPrefix(cr.Name, set.Name+"-")] {
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
