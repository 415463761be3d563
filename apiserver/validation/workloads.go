package validation

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const selectorMismatchMsg = "`selector` does not match template `labels`"

// selector validates the required, non-empty label selector of an apps/v1
// workload (or a Job) and returns it parsed, or nil when it is unusable.
func selector(sel *metav1.LabelSelector, kind string, p *field.Path) (labels.Selector, field.ErrorList) {
	if sel == nil {
		return nil, field.ErrorList{field.Required(p, "")}
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p, sel, "empty selector is invalid for "+kind))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(p, sel, "invalid label selector")}
	}
	return s, nil
}

// workloadTemplate validates the pod template of a controller that keeps
// its pods running: the selector (when usable) matches the template's
// labels, the template is valid, restartPolicy is Always, and there is no
// activeDeadlineSeconds.
func workloadTemplate(t *corev1.PodTemplateSpec, sel labels.Selector, kind string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(p.Child("metadata", "labels"), t.Labels, selectorMismatchMsg))
	}
	errs = append(errs, PodTemplateSpec(t, p)...)
	sp := p.Child("spec")
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(sp.Child("restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(sp.Child("activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return errs
}

// ReplicationController validates a replication controller: replicas and
// minReadySeconds >= 0, a non-empty selector of valid labels, a template
// (required) whose labels the selector matches, restartPolicy Always.
func ReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	errs := ObjectMeta(&rc.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, replicationControllerSpec(&rc.Spec, field.NewPath("spec"))...)
}

func replicationControllerSpec(spec *corev1.ReplicationControllerSpec, p *field.Path) field.ErrorList {
	errs := nonNegativePtr(spec.Replicas, p.Child("replicas"))
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	sp := p.Child("selector")
	if len(spec.Selector) == 0 {
		errs = append(errs, field.Required(sp, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabels(spec.Selector, sp)...)
	}
	if spec.Template == nil {
		return append(errs, field.Required(p.Child("template"), ""))
	}
	var sel labels.Selector
	if len(spec.Selector) > 0 {
		sel = labels.SelectorFromSet(spec.Selector)
	}
	return append(errs, workloadTemplate(spec.Template, sel, "ReplicationController", p.Child("template"))...)
}

// ReplicationControllerUpdate validates an update of a replication
// controller (its selector may change, as in Kubernetes' core/v1).
func ReplicationControllerUpdate(newRC, oldRC *corev1.ReplicationController) field.ErrorList {
	errs := ObjectMetaUpdate(&newRC.ObjectMeta, &oldRC.ObjectMeta, field.NewPath("metadata"))
	return append(errs, replicationControllerSpec(&newRC.Spec, field.NewPath("spec"))...)
}

// ReplicationControllerStatusUpdate validates an update of a replication
// controller's status.
func ReplicationControllerStatusUpdate(newRC, oldRC *corev1.ReplicationController) field.ErrorList {
	errs := ObjectMetaUpdate(&newRC.ObjectMeta, &oldRC.ObjectMeta, field.NewPath("metadata"))
	s := newRC.Status
	return append(errs, replicaCounts(field.NewPath("status"), s.ObservedGeneration, s.Replicas, "fullyLabeledReplicas", s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas)...)
}

// replicaCounts checks the replica counters of a workload's status; the
// second counter (labeled) is called labeledName in the kind's status.
func replicaCounts(p *field.Path, observedGeneration int64, replicas int32, labeledName string, labeled, ready, available int32) field.ErrorList {
	errs := nonNegative(int64(replicas), p.Child("replicas"))
	errs = append(errs, nonNegative(int64(labeled), p.Child(labeledName))...)
	errs = append(errs, nonNegative(int64(ready), p.Child("readyReplicas"))...)
	errs = append(errs, nonNegative(int64(available), p.Child("availableReplicas"))...)
	errs = append(errs, nonNegative(observedGeneration, p.Child("observedGeneration"))...)
	if labeled > replicas {
		errs = append(errs, field.Invalid(p.Child(labeledName), labeled, "cannot be greater than status.replicas"))
	}
	if ready > replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), ready, "cannot be greater than status.replicas"))
	}
	if available > replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), available, "cannot be greater than status.replicas"))
	}
	if available > ready {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return errs
}

// Deployment validates a deployment: replicas, minReadySeconds and
// revisionHistoryLimit >= 0; a required, non-empty, valid selector that
// matches the template's labels; a valid template with restartPolicy
// Always; strategy Recreate (without rollingUpdate) or RollingUpdate with
// maxUnavailable and maxSurge non-negative integers or percentages, not
// both 0, maxUnavailable at most 100%; progressDeadlineSeconds greater than
// minReadySeconds.
func Deployment(d *appsv1.Deployment) field.ErrorList {
	errs := ObjectMeta(&d.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, deploymentSpec(&d.Spec, field.NewPath("spec"))...)
}

func deploymentSpec(spec *appsv1.DeploymentSpec, p *field.Path) field.ErrorList {
	errs := nonNegativePtr(spec.Replicas, p.Child("replicas"))
	sel, selErrs := selector(spec.Selector, "deployment", p.Child("selector"))
	errs = append(errs, selErrs...)
	errs = append(errs, workloadTemplate(&spec.Template, sel, "Deployment", p.Child("template"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	if pds := spec.ProgressDeadlineSeconds; pds != nil {
		pp := p.Child("progressDeadlineSeconds")
		errs = append(errs, nonNegative(int64(*pds), pp)...)
		if *pds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(pp, *pds, "must be greater than minReadySeconds"))
		}
	}

	sp := p.Child("strategy")
	switch spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if spec.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := spec.Strategy.RollingUpdate
		rp := sp.Child("rollingUpdate")
		if ru == nil {
			errs = append(errs, field.Required(rp, "this should be defaulted and never be nil"))
			break
		}
		errs = append(errs, intOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, intOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
		errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		unavailable, _ := intOrPercentValue(ru.MaxUnavailable)
		surge, _ := intOrPercentValue(ru.MaxSurge)
		if unavailable == 0 && surge == 0 {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), intOrStringValue(ru.MaxUnavailable), "may not be 0 when `maxSurge` is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), spec.Strategy.Type,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return errs
}

func intOrStringValue(v *intstr.IntOrString) any {
	if v == nil {
		return nil
	}
	return v.String()
}

// DeploymentUpdate validates an update of a deployment: metadata rules, the
// new spec, and an immutable selector (apps/v1).
func DeploymentUpdate(newD, oldD *appsv1.Deployment) field.ErrorList {
	errs := ObjectMetaUpdate(&newD.ObjectMeta, &oldD.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, deploymentSpec(&newD.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(newD.Spec.Selector, oldD.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// DeploymentStatusUpdate validates an update of a deployment's status.
func DeploymentStatusUpdate(newD, oldD *appsv1.Deployment) field.ErrorList {
	errs := ObjectMetaUpdate(&newD.ObjectMeta, &oldD.ObjectMeta, field.NewPath("metadata"))
	s := newD.Status
	p := field.NewPath("status")
	errs = append(errs, replicaCounts(p, s.ObservedGeneration, s.Replicas, "updatedReplicas", s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)...)
	errs = append(errs, nonNegative(int64(s.UnavailableReplicas), p.Child("unavailableReplicas"))...)
	errs = append(errs, nonNegativePtr(s.CollisionCount, p.Child("collisionCount"))...)
	return errs
}

// ReplicaSet validates a replica set: replicas and minReadySeconds >= 0, a
// required non-empty selector matching the template's labels, a valid
// template with restartPolicy Always.
func ReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := ObjectMeta(&rs.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, replicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
}

func replicaSetSpec(spec *appsv1.ReplicaSetSpec, p *field.Path) field.ErrorList {
	errs := nonNegativePtr(spec.Replicas, p.Child("replicas"))
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	sel, selErrs := selector(spec.Selector, "replicaset", p.Child("selector"))
	errs = append(errs, selErrs...)
	return append(errs, workloadTemplate(&spec.Template, sel, "ReplicaSet", p.Child("template"))...)
}

// ReplicaSetUpdate validates an update of a replica set: the new spec and an
// immutable selector (apps/v1).
func ReplicaSetUpdate(newRS, oldRS *appsv1.ReplicaSet) field.ErrorList {
	errs := ObjectMetaUpdate(&newRS.ObjectMeta, &oldRS.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, replicaSetSpec(&newRS.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(newRS.Spec.Selector, oldRS.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// ReplicaSetStatusUpdate validates an update of a replica set's status.
func ReplicaSetStatusUpdate(newRS, oldRS *appsv1.ReplicaSet) field.ErrorList {
	errs := ObjectMetaUpdate(&newRS.ObjectMeta, &oldRS.ObjectMeta, field.NewPath("metadata"))
	s := newRS.Status
	return append(errs, replicaCounts(field.NewPath("status"), s.ObservedGeneration, s.Replicas, "fullyLabeledReplicas", s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas)...)
}

// DaemonSet validates a daemon set: a required non-empty selector matching
// the template's labels; a valid template with restartPolicy Always and no
// activeDeadlineSeconds; minReadySeconds and revisionHistoryLimit >= 0;
// updateStrategy OnDelete, or RollingUpdate with exactly one of
// maxUnavailable and maxSurge non-zero, each at most 100%.
func DaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := ObjectMeta(&ds.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, daemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
}

func daemonSetSpec(spec *appsv1.DaemonSetSpec, p *field.Path) field.ErrorList {
	sel, errs := selector(spec.Selector, "daemonset", p.Child("selector"))
	tp := p.Child("template")
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), spec.Template.Labels, selectorMismatchMsg))
	}
	errs = append(errs, PodTemplateSpec(&spec.Template, tp)...)
	if rp := spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if d := spec.Template.Spec.ActiveDeadlineSeconds; d != nil {
		errs = append(errs, field.Invalid(tp.Child("spec", "activeDeadlineSeconds"), *d, "activeDeadlineSeconds must be nil for daemon set pods"))
	}
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)

	up := p.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := spec.UpdateStrategy.RollingUpdate
		rp := up.Child("rollingUpdate")
		if ru == nil {
			errs = append(errs, field.Required(rp, ""))
			break
		}
		mu, ms := rp.Child("maxUnavailable"), rp.Child("maxSurge")
		errs = append(errs, intOrPercent(ru.MaxUnavailable, mu)...)
		errs = append(errs, intOrPercent(ru.MaxSurge, ms)...)
		errs = append(errs, notMoreThan100Percent(ru.MaxUnavailable, mu)...)
		errs = append(errs, notMoreThan100Percent(ru.MaxSurge, ms)...)
		unavailable, _ := intOrPercentValue(ru.MaxUnavailable)
		surge, _ := intOrPercentValue(ru.MaxSurge)
		switch {
		case unavailable != 0 && surge != 0:
			errs = append(errs, field.Invalid(ms, intOrStringValue(ru.MaxSurge), "may not be set when maxUnavailable is non-zero"))
		case unavailable == 0 && surge == 0:
			errs = append(errs, field.Required(mu, "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(up.Child("type"), spec.UpdateStrategy.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}))
	}
	return errs
}

// DaemonSetUpdate validates an update of a daemon set: the new spec and an
// immutable selector (apps/v1).
func DaemonSetUpdate(newDS, oldDS *appsv1.DaemonSet) field.ErrorList {
	errs := ObjectMetaUpdate(&newDS.ObjectMeta, &oldDS.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, daemonSetSpec(&newDS.Spec, field.NewPath("spec"))...)
	return append(errs, immutable(newDS.Spec.Selector, oldDS.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// DaemonSetStatusUpdate validates an update of a daemon set's status.
func DaemonSetStatusUpdate(newDS, oldDS *appsv1.DaemonSet) field.ErrorList {
	errs := ObjectMetaUpdate(&newDS.ObjectMeta, &oldDS.ObjectMeta, field.NewPath("metadata"))
	s := newDS.Status
	p := field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int32
	}{
		{"currentNumberScheduled", s.CurrentNumberScheduled}, {"numberMisscheduled", s.NumberMisscheduled},
		{"desiredNumberScheduled", s.DesiredNumberScheduled}, {"numberReady", s.NumberReady},
		{"updatedNumberScheduled", s.UpdatedNumberScheduled}, {"numberAvailable", s.NumberAvailable},
		{"numberUnavailable", s.NumberUnavailable},
	} {
		errs = append(errs, nonNegative(int64(c.v), p.Child(c.name))...)
	}
	errs = append(errs, nonNegative(s.ObservedGeneration, p.Child("observedGeneration"))...)
	return append(errs, nonNegativePtr(s.CollisionCount, p.Child("collisionCount"))...)
}

var supportedRetentionPolicies = []appsv1.PersistentVolumeClaimRetentionPolicyType{
	appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
}

// StatefulSet validates a stateful set: podManagementPolicy OrderedReady or
// Parallel; updateStrategy RollingUpdate (partition >= 0, maxUnavailable
// positive and at most 100%) or OnDelete (without rollingUpdate);
// persistentVolumeClaimRetentionPolicy Retain or Delete; replicas,
// minReadySeconds, revisionHistoryLimit and ordinals.start >= 0; a required
// non-empty selector matching the template's labels; a valid template with
// restartPolicy Always; volume claim templates with names, access modes and
// a storage request.
func StatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	errs := ObjectMeta(&ss.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, statefulSetSpec(&ss.Spec, field.NewPath("spec"))...)
}

func statefulSetSpec(spec *appsv1.StatefulSetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	mp := p.Child("podManagementPolicy")
	switch spec.PodManagementPolicy {
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	case "":
		errs = append(errs, field.Required(mp, ""))
	default:
		errs = append(errs, field.Invalid(mp, spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}

	up := p.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(up, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			rp := up.Child("rollingUpdate")
			errs = append(errs, nonNegativePtr(ru.Partition, rp.Child("partition"))...)
			if mu := ru.MaxUnavailable; mu != nil {
				mp := rp.Child("maxUnavailable")
				errs = append(errs, intOrPercent(mu, mp)...)
				errs = append(errs, notMoreThan100Percent(mu, mp)...)
				if n, _ := intOrPercentValue(mu); n == 0 {
					errs = append(errs, field.Invalid(mp, mu.String(), "cannot be 0"))
				}
			}
		}
	default:
		errs = append(errs, field.Invalid(up, spec.UpdateStrategy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}

	if pol := spec.PersistentVolumeClaimRetentionPolicy; pol != nil {
		pp := p.Child("persistentVolumeClaimRetentionPolicy")
		for _, f := range []struct {
			name string
			v    appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", pol.WhenDeleted}, {"whenScaled", pol.WhenScaled}} {
			if f.v != appsv1.RetainPersistentVolumeClaimRetentionPolicyType && f.v != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				errs = append(errs, field.NotSupported(pp.Child(f.name), f.v, supportedRetentionPolicies))
			}
		}
	}
	if spec.Ordinals != nil {
		errs = append(errs, nonNegative(int64(spec.Ordinals.Start), p.Child("ordinals", "start"))...)
	}
	errs = append(errs, nonNegativePtr(spec.Replicas, p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	if spec.ServiceName != "" {
		errs = append(errs, dnsLabel(spec.ServiceName, p.Child("serviceName"))...)
	}
	sel, selErrs := selector(spec.Selector, "statefulset", p.Child("selector"))
	errs = append(errs, selErrs...)
	errs = append(errs, workloadTemplate(&spec.Template, sel, "StatefulSet", p.Child("template"))...)
	for i := range spec.VolumeClaimTemplates {
		errs = append(errs, claimTemplate(&spec.VolumeClaimTemplates[i], p.Child("volumeClaimTemplates").Index(i))...)
	}
	return errs
}

func claimTemplate(pvc *corev1.PersistentVolumeClaim, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	np := p.Child("metadata", "name")
	if pvc.Name == "" {
		errs = append(errs, field.Required(np, ""))
	} else {
		errs = append(errs, dnsSubdomain(pvc.Name, np)...)
	}
	sp := p.Child("spec")
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(sp.Child("accessModes"), "at least 1 access mode is required"))
	}
	if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok && pvc.Spec.DataSource == nil && pvc.Spec.DataSourceRef == nil {
		errs = append(errs, field.Required(sp.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	}
	errs = append(errs, resourceList(pvc.Spec.Resources.Requests, sp.Child("resources", "requests"))...)
	return errs
}

// statefulSetMutable are the spec fields an update may change.
var statefulSetMutable = []string{
	"Replicas", "Ordinals", "Template", "UpdateStrategy", "RevisionHistoryLimit",
	"PersistentVolumeClaimRetentionPolicy", "MinReadySeconds",
}

// StatefulSetUpdate validates an update of a stateful set: the new spec,
// and no change to spec fields other than replicas, ordinals, template,
// updateStrategy, revisionHistoryLimit, persistentVolumeClaimRetentionPolicy
// and minReadySeconds (one Forbidden error at "spec").
func StatefulSetUpdate(newSS, oldSS *appsv1.StatefulSet) field.ErrorList {
	errs := ObjectMetaUpdate(&newSS.ObjectMeta, &oldSS.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, statefulSetSpec(&newSS.Spec, field.NewPath("spec"))...)
	munged := newSS.Spec.DeepCopy()
	mv, ov := reflect.ValueOf(munged).Elem(), reflect.ValueOf(&oldSS.Spec).Elem()
	for _, name := range statefulSetMutable {
		mv.FieldByName(name).Set(ov.FieldByName(name))
	}
	if !equality.Semantic.DeepEqual(*munged, oldSS.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"),
			"updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "+
				"'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

// StatefulSetStatusUpdate validates an update of a stateful set's status.
func StatefulSetStatusUpdate(newSS, oldSS *appsv1.StatefulSet) field.ErrorList {
	errs := ObjectMetaUpdate(&newSS.ObjectMeta, &oldSS.ObjectMeta, field.NewPath("metadata"))
	s := newSS.Status
	p := field.NewPath("status")
	errs = append(errs, replicaCounts(p, s.ObservedGeneration, s.Replicas, "currentReplicas", s.CurrentReplicas, s.ReadyReplicas, s.AvailableReplicas)...)
	errs = append(errs, nonNegative(int64(s.UpdatedReplicas), p.Child("updatedReplicas"))...)
	return append(errs, nonNegativePtr(s.CollisionCount, p.Child("collisionCount"))...)
}
