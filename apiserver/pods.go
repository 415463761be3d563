package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/store"
)

// modify applies fn to the stored object and writes it back with a
// compare-and-swap, retrying on conflicts. Unlike update it applies no
// generic rules: it is for server-side changes such as binding.
func (s *Server) modify(ctx context.Context, res *Resource, namespace, name string, fn func(obj runtime.Object) error) (runtime.Object, error) {
	key := s.objectKey(res, namespace, name)
	for attempt := 0; ; attempt++ {
		obj, rev, err := s.getObject(ctx, res, namespace, name)
		if err != nil {
			return nil, err
		}
		if err := fn(obj); err != nil {
			return nil, err
		}
		value, err := s.encodeForStore(res, obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		kv, err := s.opts.Store.Update(ctx, key, value, rev, store.WriteOptions{TTL: res.TTL})
		if errors.Is(err, store.ErrConflict) && attempt < updateAttempts {
			continue
		}
		if err != nil {
			return nil, storeError(err, res.GroupResource(), name)
		}
		return s.decodeStored(res, kv.Value, kv.ModRevision)
	}
}

// handleBinding serves POST pods/<name>/binding: the scheduler's way to
// assign a pod to a node. A pod is bound once.
func (s *Server) handleBinding(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	b := &corev1.Binding{}
	if err := s.decodeBody(w, r, body, b, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if b.Namespace != "" && b.Namespace != info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if b.Name != "" && b.Name != info.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", b.Name, info.Name))
	}
	var errs field.ErrorList
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node"}))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), info.Name, errs)
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		return err
	}
	b.Namespace, b.Name = info.Namespace, info.Name
	adm := &AdmissionRequest{
		Operation: Create, Resource: res.GroupVersionResource(), Kind: corev1.SchemeGroupVersion.WithKind("Binding"),
		Subresource: "binding", Namespace: info.Namespace, Name: info.Name, Object: b, User: UserFrom(r.Context()), DryRun: dryRun,
	}
	if err := s.admitMutate(r.Context(), adm); err != nil {
		return err
	}
	if err := s.admitValidate(r.Context(), adm); err != nil {
		return err
	}
	bind := func(obj runtime.Object) error {
		pod := obj.(*corev1.Pod)
		if b.UID != "" && b.UID != pod.UID {
			return apierrors.NewConflict(res.GroupResource(), info.Name, fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return apierrors.NewConflict(res.GroupResource(), info.Name, errors.New("pod is being deleted, cannot be assigned to a host"))
		}
		if pod.Spec.NodeName != "" {
			return apierrors.NewConflict(res.GroupResource(), info.Name, fmt.Errorf("pod %s is already assigned to node %q", info.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.now().Truncate(1e9)),
		})
		return nil
	}
	if dryRun {
		obj, _, err := s.getObject(r.Context(), res, info.Namespace, info.Name)
		if err != nil {
			return err
		}
		if err := bind(obj); err != nil {
			return err
		}
	} else if _, err := s.modify(r.Context(), res, info.Namespace, info.Name, bind); err != nil {
		return err
	}
	return s.writeObject(w, r, nil, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	for i := range status.Conditions {
		if status.Conditions[i].Type == c.Type {
			if status.Conditions[i].Status == c.Status {
				return
			}
			status.Conditions[i] = c
			return
		}
	}
	status.Conditions = append(status.Conditions, c)
}

// handleEviction serves POST pods/<name>/eviction, which kubectl drain uses:
// the pod is deleted with the eviction's delete options.
func (s *Server) handleEviction(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	ev := &policyv1.Eviction{}
	if err := s.decodeBody(w, r, body, ev, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if ev.Name != "" && ev.Name != info.Name {
		return apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		return err
	}
	if len(opts.DryRun) > 0 {
		dryRun = true
	}
	ev.Namespace, ev.Name = info.Namespace, info.Name
	// The eviction is admitted as a create of pods/eviction, then the
	// deletion it causes as a delete of the pod.
	adm := &AdmissionRequest{
		Operation: Create, Resource: res.GroupVersionResource(), Kind: policyv1.SchemeGroupVersion.WithKind("Eviction"),
		Subresource: "eviction", Namespace: info.Namespace, Name: info.Name, Object: ev, User: UserFrom(r.Context()), DryRun: dryRun,
	}
	if err := s.admitMutate(r.Context(), adm); err != nil {
		return err
	}
	if err := s.admitValidate(r.Context(), adm); err != nil {
		return err
	}
	if dryRun && len(opts.DryRun) == 0 {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, _, err := s.delete(r.Context(), res, info.Namespace, info.Name, opts); err != nil {
		return err
	}
	return s.writeObject(w, r, nil, http.StatusCreated, &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// podGracePeriod is the grace period of a pod deletion: pods that never ran
// or have finished go at once; running pods get the requested period or
// their terminationGracePeriodSeconds, so the node agent can stop them.
func podGracePeriod(obj runtime.Object, requested *int64) int64 {
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if requested != nil {
		return *requested
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

func podResource() Resource {
	return Resource{
		GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Pod"),
		Plural:           "pods",
		ShortNames:       []string{"po"},
		Categories:       []string{"all"},
		Namespaced:       true,
		New:              func() runtime.Object { return &corev1.Pod{} },
		NewList:          func() runtime.Object { return &corev1.PodList{} },
		Status:           true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			pod := obj.(*corev1.Pod)
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
		},
		GracePeriod: podGracePeriod,
		Fields: func(obj runtime.Object) fields.Set {
			pod := obj.(*corev1.Pod)
			return fields.Set{
				"spec.nodeName":            pod.Spec.NodeName,
				"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
				"spec.schedulerName":       pod.Spec.SchedulerName,
				"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
				"spec.hostNetwork":         fmt.Sprint(pod.Spec.HostNetwork),
				"status.phase":             string(pod.Status.Phase),
				"status.podIP":             pod.Status.PodIP,
				"status.nominatedNodeName": pod.Status.NominatedNodeName,
			}
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Ready", Type: "string", Description: "The aggregate readiness state of this pod for accepting traffic."},
			{Name: "Status", Type: "string", Description: "The aggregate status of the containers in this pod."},
			{Name: "Restarts", Type: "string", Description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."},
			{Name: "IP", Type: "string", Priority: 1, Description: corev1.PodStatus{}.SwaggerDoc()["podIP"]},
			{Name: "Node", Type: "string", Priority: 1, Description: corev1.PodSpec{}.SwaggerDoc()["nodeName"]},
			{Name: "Nominated Node", Type: "string", Priority: 1, Description: corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"]},
			{Name: "Readiness Gates", Type: "string", Priority: 1, Description: corev1.PodSpec{}.SwaggerDoc()["readinessGates"]},
		},
		Cells: podCells,
	}
}

// podCells computes the columns kubectl get pods prints.
func podCells(obj runtime.Object) []any {
	pod := obj.(*corev1.Pod)
	ready, restarts := 0, int32(0)
	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, cs := range pod.Status.ContainerStatuses {
		restarts += cs.RestartCount
		if cs.Ready {
			ready++
		}
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			reason = cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
			reason = cs.State.Terminated.Reason
		case cs.State.Terminated != nil:
			reason = fmt.Sprintf("ExitCode:%d", cs.State.Terminated.ExitCode)
		}
	}
	if pod.DeletionTimestamp != nil {
		reason = "Terminating"
	}
	node, ip, nominated := "<none>", "<none>", "<none>"
	if pod.Spec.NodeName != "" {
		node = pod.Spec.NodeName
	}
	if pod.Status.PodIP != "" {
		ip = pod.Status.PodIP
	}
	if pod.Status.NominatedNodeName != "" {
		nominated = pod.Status.NominatedNodeName
	}
	gates := "<none>"
	if n := len(pod.Spec.ReadinessGates); n > 0 {
		passed := 0
		for _, g := range pod.Spec.ReadinessGates {
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
					passed++
				}
			}
		}
		gates = fmt.Sprintf("%d/%d", passed, n)
	}
	return []any{
		fmt.Sprintf("%d/%d", ready, len(pod.Spec.Containers)),
		reason,
		fmt.Sprint(restarts),
		ip, node, nominated, gates,
	}
}
