package apiserver

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/apiserver/validation"
)

// systemNamespaces exist in every cluster.
var systemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// namespaceFinalizer is the finalizer the namespace controller removes once
// a terminating namespace is empty.
const namespaceFinalizer = corev1.FinalizerKubernetes

func isCoreNamespaces(res *Resource) bool {
	return res.GroupVersionKind == corev1.SchemeGroupVersion.WithKind("Namespace")
}

func isCorePods(res *Resource) bool {
	return res.GroupVersionKind == corev1.SchemeGroupVersion.WithKind("Pod")
}

// namespaces returns the served namespace resource, if any.
func (s *Server) namespaces() *Resource {
	return s.resources[corev1.SchemeGroupVersion.WithResource("namespaces")]
}

func (s *Server) ensureNamespace(ctx context.Context, name string) error {
	res := s.namespaces()
	if res == nil {
		return nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := s.create(ctx, res, requestInfo{Verb: "create", Resource: "namespaces"}, ns, false)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %q: %w", name, err)
	}
	return nil
}

// checkNamespaceAccepts refuses new objects in a namespace that does not
// exist or is being deleted (the NamespaceLifecycle rule).
func (s *Server) checkNamespaceAccepts(ctx context.Context, namespace string) error {
	res := s.namespaces()
	if res == nil {
		return nil
	}
	obj, _, err := s.getObject(ctx, res, "", namespace)
	if err != nil {
		return err
	}
	if mustAccessor(obj).GetDeletionTimestamp() != nil {
		return apierrors.NewForbidden(corev1.Resource("namespaces"), namespace,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
	}
	return nil
}

// handleFinalize serves PUT namespaces/<name>/finalize: it changes only
// spec.finalizers, and deletes a terminating namespace once none are left.
func (s *Server) handleFinalize(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo, body []byte, dryRun bool) error {
	in := &corev1.Namespace{}
	if err := s.decodeBody(w, r, body, in, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if err := checkObjectScope(res, info, in); err != nil {
		return err
	}
	out, err := s.update(r.Context(), res, info, dryRun, func(current runtime.Object) (runtime.Object, error) {
		ns := current.(*corev1.Namespace)
		old := ns.DeepCopy()
		ns.Spec.Finalizers = in.Spec.Finalizers
		ns.ResourceVersion = in.ResourceVersion
		if errs := validation.NamespaceFinalizeUpdate(ns, old); len(errs) > 0 {
			return nil, invalid(res, info.Name, errs)
		}
		return ns, nil
	})
	if err != nil {
		return err
	}
	return s.writeObject(w, r, res, http.StatusOK, out)
}

func namespaceResource() Resource {
	return Resource{
		GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Namespace"),
		Plural:           "namespaces",
		ShortNames:       []string{"ns"},
		New:              func() runtime.Object { return &corev1.Namespace{} },
		NewList:          func() runtime.Object { return &corev1.NamespaceList{} },
		Status:           true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			ns.Spec.Finalizers = []corev1.FinalizerName{namespaceFinalizer}
		},
		PrepareForUpdate: func(ctx context.Context, obj, old runtime.Object) {
			// Only the finalize subresource changes spec.finalizers.
			if info, _ := ctx.Value(requestInfoKey{}).(requestInfo); info.Subresource != "finalize" {
				obj.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
			}
		},
		validateDelete: func(obj runtime.Object) error {
			switch name := obj.(*corev1.Namespace).Name; name {
			case metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic:
				return apierrors.NewForbidden(corev1.Resource("namespaces"), name, fmt.Errorf("this namespace may not be deleted"))
			}
			return nil
		},
		PrepareForDelete: func(obj runtime.Object) {
			obj.(*corev1.Namespace).Status.Phase = corev1.NamespaceTerminating
		},
		Finalized: func(obj runtime.Object) bool {
			return len(obj.(*corev1.Namespace).Spec.Finalizers) == 0
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Status", Type: "string", Description: "The status of the namespace"},
		},
		Cells: func(obj runtime.Object) []any {
			return []any{string(obj.(*corev1.Namespace).Status.Phase)}
		},
	}
}
