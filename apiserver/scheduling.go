package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/apiserver/validation"
)

// schedulingResources are the scheduling.k8s.io/v1 resources:
// PriorityClasses (pc), which name pod priorities. The Priority admission
// plugin (apiserver/admission/priority) resolves a pod's class into its
// spec.priority; EnsureSystemObjects makes the system classes.
func schedulingResources() []Resource {
	return []Resource{{
		GroupVersionKind: schedulingv1.SchemeGroupVersion.WithKind("PriorityClass"),
		Plural:           "priorityclasses", ShortNames: []string{"pc"},
		New:     func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList: func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Default: func(obj runtime.Object) {
			pc := obj.(*schedulingv1.PriorityClass)
			if pc.PreemptionPolicy == nil {
				p := corev1.PreemptLowerPriority
				pc.PreemptionPolicy = &p
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return validation.PriorityClass(obj.(*schedulingv1.PriorityClass))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validation.PriorityClassUpdate(obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass))
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Value", Type: "integer", Description: schedulingv1.PriorityClass{}.SwaggerDoc()["value"]},
			{Name: "Global-Default", Type: "boolean", Description: schedulingv1.PriorityClass{}.SwaggerDoc()["globalDefault"]},
			{Name: "Preemption-Policy", Type: "string", Description: schedulingv1.PriorityClass{}.SwaggerDoc()["preemptionPolicy"]},
		},
		Cells: func(obj runtime.Object) []any {
			pc := obj.(*schedulingv1.PriorityClass)
			policy := ""
			if pc.PreemptionPolicy != nil {
				policy = string(*pc.PreemptionPolicy)
			}
			return []any{int64(pc.Value), pc.GlobalDefault, policy}
		},
	}}
}

// ensureSystemPriorityClasses makes system-cluster-critical and
// system-node-critical when PriorityClasses are served.
func (s *Server) ensureSystemPriorityClasses(ctx context.Context) error {
	res := s.resources[schedulingv1.SchemeGroupVersion.WithResource("priorityclasses")]
	if res == nil {
		return nil
	}
	for _, name := range validation.SystemPriorityClassNames() {
		value, _ := validation.SystemPriorityClass(name)
		pc := &schedulingv1.PriorityClass{
			ObjectMeta:  metav1.ObjectMeta{Name: name},
			Value:       value,
			Description: "Used for system critical pods that must run in the cluster.",
		}
		if name == "system-node-critical" {
			pc.Description = "Used for system critical pods that must not be moved from their current node."
		}
		_, err := s.create(ctx, res, requestInfo{Verb: "create", Resource: res.Plural}, pc, false)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating priority class %q: %w", name, err)
		}
	}
	return nil
}
