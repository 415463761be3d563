package apiserver

import (
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// scaleOf returns the Scale view of obj.
func (s *Server) scaleOf(res *Resource, obj runtime.Object) (*autoscalingv1.Scale, error) {
	if res.Scale == nil {
		return nil, apierrors.NewNotFound(res.GroupResource(), "scale")
	}
	a := mustAccessor(obj)
	sc := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.GetName(), Namespace: a.GetNamespace(), UID: a.GetUID(),
			ResourceVersion: a.GetResourceVersion(), CreationTimestamp: a.GetCreationTimestamp(),
		},
		Status: autoscalingv1.ScaleStatus{Replicas: res.Scale.StatusReplicas(obj), Selector: res.Scale.Selector(obj)},
	}
	if p := res.Scale.SpecReplicas(obj); p != nil {
		sc.Spec.Replicas = *p
	} else {
		sc.Spec.Replicas = 1
	}
	return sc, nil
}

// updateScale writes the desired replicas of a Scale to the object.
func (s *Server) updateScale(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo, dryRun bool, desired func(current *autoscalingv1.Scale) (*autoscalingv1.Scale, error)) error {
	out, err := s.update(r.Context(), res, info, dryRun, func(current runtime.Object) (runtime.Object, error) {
		cur, err := s.scaleOf(res, current)
		if err != nil {
			return nil, err
		}
		sc, err := desired(cur)
		if err != nil {
			return nil, err
		}
		if sc.Name != "" && sc.Name != info.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", sc.Name, info.Name))
		}
		if sc.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), info.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), sc.Spec.Replicas, "must be greater than or equal to 0"),
			})
		}
		replicas := sc.Spec.Replicas
		*res.Scale.SpecReplicas(current) = replicas
		mustAccessor(current).SetResourceVersion(sc.ResourceVersion)
		return current, nil
	})
	if err != nil {
		return err
	}
	sc, err := s.scaleOf(res, out)
	if err != nil {
		return err
	}
	return s.writeObject(w, r, nil, http.StatusOK, sc)
}

func (s *Server) handleScaleUpdate(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo, body []byte, dryRun bool) error {
	in := &autoscalingv1.Scale{}
	if err := s.decodeBody(w, r, body, in, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	return s.updateScale(w, r, res, info, dryRun, func(*autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
		return in, nil
	})
}

func (s *Server) handleScalePatch(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo, pt types.PatchType, patch []byte, dryRun bool) error {
	return s.updateScale(w, r, res, info, dryRun, func(current *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
		patched, err := s.applyPatch(w, r, res, pt, patch, current, &autoscalingv1.Scale{})
		if err != nil {
			return nil, err
		}
		return patched.(*autoscalingv1.Scale), nil
	})
}
