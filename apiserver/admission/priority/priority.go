// Package priority is the Priority admission plugin: a pod's
// priorityClassName becomes its spec.priority (and preemptionPolicy), the
// global default class applies to pods that name none, and at most one
// PriorityClass may be the global default.
package priority

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
)

// Plugin is the Priority admission plugin. Safe for concurrent use.
type Plugin struct {
	st store.Store
}

var (
	_ apiserver.MutatingAdmission   = (*Plugin)(nil)
	_ apiserver.ValidatingAdmission = (*Plugin)(nil)
)

// New returns the plugin; it reads PriorityClasses from st, the API
// server's store.
func New(st store.Store) (*Plugin, error) {
	if st == nil {
		return nil, errors.New("priority: a store is required")
	}
	return &Plugin{st: st}, nil
}

var (
	pods            = corev1.Resource("pods")
	priorityClasses = schedulingv1.Resource("priorityclasses")
)

// Admit resolves the priority of a pod being created. A pod that names no
// class gets the global default class, or priority 0 when there is none; a
// pod that names a missing class, or sets a priority other than its
// class's, is refused.
func (p *Plugin) Admit(ctx context.Context, req *apiserver.AdmissionRequest) error {
	if req.Operation != apiserver.Create || req.Subresource != "" || req.Resource.GroupResource() != pods {
		return nil
	}
	pod, ok := req.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	var pc *schedulingv1.PriorityClass
	var err error
	if name := pod.Spec.PriorityClassName; name != "" {
		pc, err = p.class(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return apierrors.NewForbidden(pods, req.Name, fmt.Errorf("no PriorityClass with name %s was found", name))
		}
	} else {
		pc, err = p.globalDefault(ctx)
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("priority: %w", err))
	}
	var value int32
	if pc != nil {
		value = pc.Value
		pod.Spec.PriorityClassName = pc.Name
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return apierrors.NewForbidden(pods, req.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pc != nil && pc.PreemptionPolicy != nil {
		if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *pc.PreemptionPolicy {
			return apierrors.NewForbidden(pods, req.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *pc.PreemptionPolicy))
		}
		policy := *pc.PreemptionPolicy
		pod.Spec.PreemptionPolicy = &policy
	}
	return nil
}

// Validate refuses a second global default PriorityClass.
func (p *Plugin) Validate(ctx context.Context, req *apiserver.AdmissionRequest) error {
	if (req.Operation != apiserver.Create && req.Operation != apiserver.Update) || req.Resource.GroupResource() != priorityClasses {
		return nil
	}
	pc, ok := req.Object.(*schedulingv1.PriorityClass)
	if !ok || !pc.GlobalDefault {
		return nil
	}
	def, err := p.globalDefault(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("priority: %w", err))
	}
	if def != nil && def.Name != pc.Name {
		return apierrors.NewForbidden(priorityClasses, req.Name, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", def.Name))
	}
	return nil
}

func (p *Plugin) class(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	kv, err := p.st.Get(ctx, store.ObjectKey("priorityclasses", "", name))
	if err != nil {
		return nil, err
	}
	pc := &schedulingv1.PriorityClass{}
	if err := json.Unmarshal(kv.Value, pc); err != nil {
		return nil, fmt.Errorf("decoding priority class %s: %w", name, err)
	}
	return pc, nil
}

// globalDefault returns the global default class, nil when there is none.
// With several (made before this plugin ran) the lowest value wins, as in
// Kubernetes.
func (p *Plugin) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	var def *schedulingv1.PriorityClass
	opts := store.ListOptions{Limit: 500}
	for {
		res, err := p.st.List(ctx, store.ObjectPrefix("priorityclasses", ""), opts)
		if err != nil {
			return nil, err
		}
		for _, kv := range res.Items {
			pc := &schedulingv1.PriorityClass{}
			if err := json.Unmarshal(kv.Value, pc); err != nil {
				return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
			}
			if pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
				def = pc
			}
		}
		if res.Continue == "" {
			return def, nil
		}
		opts = store.ListOptions{Limit: 500, Continue: res.Continue}
	}
}
