// Package history keeps the pod-template history of a workload in
// ControllerRevisions (apps/v1), as Kubernetes' DaemonSet and StatefulSet
// controllers do, so that kubectl rollout history and undo work on them.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/utils/ptr"
)

// DefaultLimit is how many old revisions are kept when
// spec.revisionHistoryLimit is unset (the API server defaults it to 10).
const DefaultLimit = 10

// HashLabel labels revisions (and the owner's pods) with the template's
// revision.
const HashLabel = appsv1.ControllerRevisionHashLabelKey

// Object is a workload with a pod template (a DaemonSet, a StatefulSet).
type Object interface {
	metav1.Object
	runtime.Object
}

// Owner is the workload whose history Sync keeps.
type Owner struct {
	Object Object
	GVK    schema.GroupVersionKind
	// TemplateLabels are spec.template's labels; the revision carries
	// them too.
	TemplateLabels map[string]string
	// Limit is spec.revisionHistoryLimit (nil: DefaultLimit).
	Limit *int32
	// Name is the name of the current template's revision and Hash the
	// value of its HashLabel.
	Name, Hash string
	// InUse are the HashLabel values of the owner's pods: revisions they
	// name (by name, by their HashLabel or by the hash after the owner's
	// name) are never pruned.
	InUse map[string]bool
}

// Hash is the hash of a pod template that names its revision
// (<owner>-<hash>) and labels the owner's pods.
func Hash(t *corev1.PodTemplateSpec) string {
	h := fnv.New32a()
	b, _ := json.Marshal(t)
	_, _ = h.Write(b)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// TemplatePatch is a revision's data: a strategic merge patch that
// replaces the owner's spec.template with its current one, the form
// kubectl rollout undo applies back and compares byte for byte with its
// own rendering of the owner.
func TemplatePatch(obj runtime.Object) ([]byte, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var o struct {
		Spec struct {
			Template map[string]any `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	if o.Spec.Template == nil {
		return nil, fmt.Errorf("%T has no spec.template", obj)
	}
	o.Spec.Template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": o.Spec.Template}})
}

// Sync makes sure the current template has a ControllerRevision with the
// highest revision number (creating it, or renumbering it when an old
// template comes back) and deletes the oldest revisions beyond the limit
// that no pod uses. revs lists the revisions (an informer's lister).
func Sync(ctx context.Context, client kubernetes.Interface, revs appslisters.ControllerRevisionLister, o Owner) error {
	obj := o.Object
	all, err := revs.ControllerRevisions(obj.GetNamespace()).List(labels.Everything())
	if err != nil {
		return err
	}
	var cur *appsv1.ControllerRevision
	var owned []*appsv1.ControllerRevision
	maxRev := int64(0)
	for _, cr := range all {
		if !metav1.IsControlledBy(cr, obj) {
			continue
		}
		if cr.Name == o.Name {
			cur = cr
			continue
		}
		owned = append(owned, cr)
		maxRev = max(maxRev, cr.Revision)
	}
	api := client.AppsV1().ControllerRevisions(obj.GetNamespace())
	switch {
	case cur == nil:
		data, err := TemplatePatch(obj)
		if err != nil {
			return fmt.Errorf("revision %q: %w", o.Name, err)
		}
		lbls := map[string]string{HashLabel: o.Hash}
		for k, v := range o.TemplateLabels {
			lbls[k] = v
		}
		var ann map[string]string
		if a := obj.GetAnnotations(); len(a) > 0 {
			ann = make(map[string]string, len(a))
			for k, v := range a {
				ann[k] = v // kubectl rollout history's CHANGE-CAUSE
			}
		}
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: obj.GetNamespace(), Labels: lbls, Annotations: ann,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(obj, o.GVK)}},
			Data:     runtime.RawExtension{Raw: data},
			Revision: maxRev + 1,
		}
		if _, err := api.Create(ctx, cr, metav1.CreateOptions{}); err != nil {
			// AlreadyExists: the cache has not seen it yet; the
			// revision's own event brings the owner back.
			if !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create revision %q: %w", o.Name, err)
			}
		}
	case cur.Revision <= maxRev:
		cr := cur.DeepCopy()
		cr.Revision = maxRev + 1
		if _, err := api.Update(ctx, cr, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("renumber revision %q: %w", o.Name, err)
		}
	}
	limit := int(ptr.Deref(o.Limit, DefaultLimit))
	var old []*appsv1.ControllerRevision
	for _, cr := range owned {
		if !o.InUse[cr.Name] && !o.InUse[cr.Labels[HashLabel]] && !o.InUse[strings.TrimPrefix(cr.Name, obj.GetName()+"-")] {
			old = append(old, cr)
		}
	}
	if len(old) <= limit {
		return nil
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Revision < old[j].Revision })
	for _, cr := range old[:len(old)-limit] {
		err := api.Delete(ctx, cr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cr.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete revision %q: %w", cr.Name, err)
		}
	}
	return nil
}
