package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestReplicationController(t *testing.T) {
	runCreate(t, validRC, []testCase[*corev1.ReplicationController]{
		{"valid", func(*corev1.ReplicationController) {}, nil},
		{"negative replicas", func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr[int32](-1) }, []want{invalid("spec.replicas")}},
		{"no selector", func(rc *corev1.ReplicationController) { rc.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"selector does not match", func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "db"} }, []want{invalid("spec.template.metadata.labels")}},
		{"no template", func(rc *corev1.ReplicationController) { rc.Spec.Template = nil }, []want{required("spec.template")}},
		{"restartPolicy OnFailure", func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, []want{notSupported("spec.template.spec.restartPolicy")}},
		{"activeDeadlineSeconds", func(rc *corev1.ReplicationController) { rc.Spec.Template.Spec.ActiveDeadlineSeconds = ptr[int64](10) }, []want{forbidden("spec.template.spec.activeDeadlineSeconds")}},
		{"invalid template container", func(rc *corev1.ReplicationController) { rc.Spec.Template.Spec.Containers[0].Image = "" }, []want{required("spec.template.spec.containers[0].image")}},
	})
	runUpdate(t, validRC, false, []testCase[*corev1.ReplicationController]{
		{"scale", func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr[int32](5) }, nil},
		{"selector may change in core/v1", func(rc *corev1.ReplicationController) {
			rc.Spec.Selector = map[string]string{"app": "web", "v": "2"}
			rc.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		}, nil},
	})
	runUpdate(t, validRC, true, []testCase[*corev1.ReplicationController]{
		{"counts", func(rc *corev1.ReplicationController) { rc.Status.Replicas, rc.Status.ReadyReplicas = 3, 2 }, nil},
		{"more ready than replicas", func(rc *corev1.ReplicationController) { rc.Status.Replicas, rc.Status.ReadyReplicas = 1, 2 }, []want{invalid("status.readyReplicas")}},
	})
}

func TestDeployment(t *testing.T) {
	ru := "spec.strategy.rollingUpdate"
	runCreate(t, validDeployment, []testCase[*appsv1.Deployment]{
		{"valid", func(*appsv1.Deployment) {}, nil},
		{"bad name", func(d *appsv1.Deployment) { d.Name = "Web" }, []want{invalid("metadata.name")}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr[int32](-1) }, []want{invalid("spec.replicas")}},
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, []want{invalid("spec.selector")}},
		{"bad selector operator", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near", Values: []string{"x"}}}
		}, []want{invalid("spec.selector.matchExpressions[0].operator")}},
		{"selector does not match", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "db"} }, []want{invalid("spec.template.metadata.labels")}},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, []want{notSupported("spec.template.spec.restartPolicy")}},
		{"bad template", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil }, []want{required("spec.template.spec.containers")}},
		{"both 0", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("0%"))
		}, []want{invalid(ru + ".maxUnavailable")}},
		{"maxUnavailable above 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("150%"))
		}, []want{invalid(ru + ".maxUnavailable")}},
		{"maxSurge not a percentage", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("many")) }, []want{invalid(ru + ".maxSurge")}},
		{"negative maxSurge", func(d *appsv1.Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(-1)) }, []want{invalid(ru + ".maxSurge")}},
		{"Recreate with rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }, []want{forbidden(ru)}},
		{"Recreate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}, nil},
		{"bad strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, []want{notSupported("spec.strategy.type")}},
		{"negative revisionHistoryLimit", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr[int32](-1) }, []want{invalid("spec.revisionHistoryLimit")}},
		{"progress deadline not above minReady", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 }, []want{invalid("spec.progressDeadlineSeconds")}},
	})
	runUpdate(t, validDeployment, false, []testCase[*appsv1.Deployment]{
		{"image may change", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"scale", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr[int32](10) }, nil},
		{"selector is immutable", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
			d.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		}, []want{invalid("spec.selector")}},
	})
	runUpdate(t, validDeployment, true, []testCase[*appsv1.Deployment]{
		{"counts", func(d *appsv1.Deployment) {
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas = 3, 3, 3
		}, nil},
		{"negative count", func(d *appsv1.Deployment) { d.Status.UnavailableReplicas = -1 }, []want{invalid("status.unavailableReplicas")}},
		{"more updated than replicas", func(d *appsv1.Deployment) { d.Status.Replicas, d.Status.UpdatedReplicas = 1, 2 }, []want{invalid("status.updatedReplicas")}},
	})
}

func TestReplicaSet(t *testing.T) {
	runCreate(t, validReplicaSet, []testCase[*appsv1.ReplicaSet]{
		{"valid", func(*appsv1.ReplicaSet) {}, nil},
		{"negative replicas", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr[int32](-3) }, []want{invalid("spec.replicas")}},
		{"no selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"selector does not match", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Labels = nil }, []want{invalid("spec.template.metadata.labels")}},
		{"negative minReadySeconds", func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -1 }, []want{invalid("spec.minReadySeconds")}},
	})
	runUpdate(t, validReplicaSet, false, []testCase[*appsv1.ReplicaSet]{
		{"scale to zero", func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr[int32](0) }, nil},
		{"selector is immutable", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}
		}, []want{invalid("spec.selector")}},
	})
}

func TestDaemonSet(t *testing.T) {
	ru := "spec.updateStrategy.rollingUpdate"
	runCreate(t, validDaemonSet, []testCase[*appsv1.DaemonSet]{
		{"valid", func(*appsv1.DaemonSet) {}, nil},
		{"no selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"selector does not match", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Labels = map[string]string{"app": "other"} }, []want{invalid("spec.template.metadata.labels")}},
		{"restartPolicy OnFailure", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }, []want{notSupported("spec.template.spec.restartPolicy")}},
		{"activeDeadlineSeconds", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.ActiveDeadlineSeconds = ptr[int64](5) }, []want{invalid("spec.template.spec.activeDeadlineSeconds")}},
		{"both 0", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
		}, []want{required(ru + ".maxUnavailable")}},
		{"both non-zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("10%"))
		}, []want{invalid(ru + ".maxSurge")}},
		{"surge instead of unavailable", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(1))
		}, nil},
		{"OnDelete", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		}, nil},
		{"bad strategy", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Surge" }, []want{notSupported("spec.updateStrategy.type")}},
	})
	runUpdate(t, validDaemonSet, false, []testCase[*appsv1.DaemonSet]{
		{"template may change", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"selector is immutable", func(ds *appsv1.DaemonSet) {
			ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
			ds.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
		}, []want{invalid("spec.selector")}},
	})
	runUpdate(t, validDaemonSet, true, []testCase[*appsv1.DaemonSet]{
		{"counts", func(ds *appsv1.DaemonSet) { ds.Status.DesiredNumberScheduled, ds.Status.NumberReady = 3, 3 }, nil},
		{"negative count", func(ds *appsv1.DaemonSet) { ds.Status.NumberReady = -1 }, []want{invalid("status.numberReady")}},
	})
}

func TestStatefulSet(t *testing.T) {
	runCreate(t, validStatefulSet, []testCase[*appsv1.StatefulSet]{
		{"valid", func(*appsv1.StatefulSet) {}, nil},
		{"bad podManagementPolicy", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Random" }, []want{invalid("spec.podManagementPolicy")}},
		{"no podManagementPolicy", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "" }, []want{required("spec.podManagementPolicy")}},
		{"bad update strategy", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = "Recreate" }, []want{invalid("spec.updateStrategy")}},
		{"OnDelete with rollingUpdate", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType }, []want{invalid("spec.updateStrategy.rollingUpdate")}},
		{"negative partition", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptr[int32](-1) }, []want{invalid("spec.updateStrategy.rollingUpdate.partition")}},
		{"bad retention policy", func(ss *appsv1.StatefulSet) { ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" }, []want{notSupported("spec.persistentVolumeClaimRetentionPolicy.whenScaled")}},
		{"negative replicas", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr[int32](-1) }, []want{invalid("spec.replicas")}},
		{"no selector", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"selector does not match", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Labels = map[string]string{"app": "x"} }, []want{invalid("spec.template.metadata.labels")}},
		{"restartPolicy Never", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, []want{notSupported("spec.template.spec.restartPolicy")}},
		{"claim template without access mode", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil }, []want{required("spec.volumeClaimTemplates[0].spec.accessModes")}},
		{"claim template without name", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates[0].Name = "" }, []want{required("spec.volumeClaimTemplates[0].metadata.name")}},
	})
	runUpdate(t, validStatefulSet, false, []testCase[*appsv1.StatefulSet]{
		{"scale", func(ss *appsv1.StatefulSet) { ss.Spec.Replicas = ptr[int32](3) }, nil},
		{"template may change", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.Containers[0].Image = "postgres:17" }, nil},
		{"update strategy may change", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}, nil},
		{"serviceName may not change", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "db2" }, []want{forbidden("spec")}},
		{"claim templates may not change", func(ss *appsv1.StatefulSet) { ss.Spec.VolumeClaimTemplates = nil }, []want{forbidden("spec")}},
		{"selector may not change", func(ss *appsv1.StatefulSet) {
			ss.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}
		}, []want{forbidden("spec")}},
	})
	runUpdate(t, validStatefulSet, true, []testCase[*appsv1.StatefulSet]{
		{"counts", func(ss *appsv1.StatefulSet) { ss.Status.Replicas, ss.Status.CurrentReplicas = 1, 1 }, nil},
		{"more current than replicas", func(ss *appsv1.StatefulSet) { ss.Status.CurrentReplicas = 1 }, []want{invalid("status.currentReplicas")}},
	})
}

func TestJob(t *testing.T) {
	runCreate(t, validJob, []testCase[*batchv1.Job]{
		{"valid", func(*batchv1.Job) {}, nil},
		{"restartPolicy OnFailure", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }, nil},
		{"restartPolicy Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }, []want{notSupported("spec.template.spec.restartPolicy")}},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = ptr[int32](-1) }, []want{invalid("spec.parallelism")}},
		{"negative completions", func(j *batchv1.Job) { j.Spec.Completions = ptr[int32](-1) }, []want{invalid("spec.completions")}},
		{"negative backoffLimit", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr[int32](-1) }, []want{invalid("spec.backoffLimit")}},
		{"negative activeDeadlineSeconds", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr[int64](-1) }, []want{invalid("spec.activeDeadlineSeconds")}},
		{"no selector", func(j *batchv1.Job) { j.Spec.Selector = nil }, []want{required("spec.selector")}},
		{"selector does not match", func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"job": "other"}}
		}, []want{invalid("spec.template.metadata.labels")}},
		{"Indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode, j.Spec.Completions = ptr(batchv1.IndexedCompletion), nil
		}, []want{required("spec.completions")}},
		{"bad completion mode", func(j *batchv1.Job) { j.Spec.CompletionMode = ptr[batchv1.CompletionMode]("Sometimes") }, []want{notSupported("spec.completionMode")}},
		{"bad pod failure action", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: "Retry", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
			}}}
		}, []want{notSupported("spec.podFailurePolicy.rules[0].action")}},
	})
	runUpdate(t, validJob, false, []testCase[*batchv1.Job]{
		{"parallelism may change", func(j *batchv1.Job) { j.Spec.Parallelism = ptr[int32](3) }, nil},
		{"selector is immutable", func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["tier"] = "batch"
			j.Spec.Template.Labels["tier"] = "batch"
		}, []want{invalid("spec.selector"), invalid("spec.template")}},
		{"completions are immutable", func(j *batchv1.Job) { j.Spec.Completions = ptr[int32](5) }, []want{invalid("spec.completions")}},
		{"template is immutable", func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5" }, []want{invalid("spec.template")}},
	})
	suspended := func() *batchv1.Job { j := validJob(); j.Spec.Suspend = ptr(true); return j }
	runUpdate(t, suspended, false, []testCase[*batchv1.Job]{
		{"scheduling fields of a suspended job may change", func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "b"}
			j.Spec.Template.Annotations = map[string]string{"queue": "batch"}
		}, nil},
		{"image of a suspended job may not change", func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5" }, []want{invalid("spec.template")}},
	})
	runUpdate(t, validJob, true, []testCase[*batchv1.Job]{
		{"counts", func(j *batchv1.Job) { j.Status.Active, j.Status.Succeeded = 1, 1 }, nil},
		{"negative count", func(j *batchv1.Job) { j.Status.Failed = -1 }, []want{invalid("status.failed")}},
	})
}
