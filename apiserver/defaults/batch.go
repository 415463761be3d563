package defaults

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const defaultBackoffLimit = 6

// Job defaults a job: parallelism and completions 1 when both are unset
// (parallelism 1 when only it is unset), backoffLimit 6 (unlimited when a
// per-index limit is set), completionMode NonIndexed, suspend false,
// podReplacementPolicy TerminatingOrFailed (Failed with a pod failure
// policy), pod failure policy condition status True, empty job labels copied
// from the template's labels, and the template's pod defaults. The
// template's restartPolicy is not changed to suit a Job: a template without
// one gets Always like any pod spec, which Job validation rejects.
//
// The selector is not a default: see JobSelector.
func Job(job *batchv1.Job) {
	spec := &job.Spec
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptrTo[int32](1)
		spec.Parallelism = ptrTo[int32](1)
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptrTo[int32](1)
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptrTo[int32](math.MaxInt32)
		} else {
			spec.BackoffLimit = ptrTo[int32](defaultBackoffLimit)
		}
	}
	if len(spec.Template.Labels) > 0 && len(job.Labels) == 0 {
		job.Labels = copyStringMap(spec.Template.Labels)
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptrTo(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if spec.PodFailurePolicy != nil {
		for i := range spec.PodFailurePolicy.Rules {
			for j := range spec.PodFailurePolicy.Rules[i].OnPodConditions {
				c := &spec.PodFailurePolicy.Rules[i].OnPodConditions[j]
				if c.Status == "" {
					c.Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptrTo(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptrTo(batchv1.TerminatingOrFailed)
		}
	}
	PodTemplateSpec(&spec.Template)
}

// JobSelector gives a job the selector Kubernetes generates when the job
// is created without spec.manualSelector: the labels
// batch.kubernetes.io/controller-uid and controller-uid (the job's UID) and
// batch.kubernetes.io/job-name and job-name (its name) are added to the pod
// template, and the selector matches the controller UID. It does nothing
// when manualSelector is true or the job has no UID yet, so the API server
// calls it on create after assigning the UID and before validation.
func JobSelector(job *batchv1.Job) {
	if (job.Spec.ManualSelector != nil && *job.Spec.ManualSelector) || job.UID == "" {
		return
	}
	uid := string(job.UID)
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	labels := job.Spec.Template.Labels
	labels[batchv1.ControllerUidLabel] = uid
	labels["controller-uid"] = uid
	if job.Name != "" {
		labels[batchv1.JobNameLabel] = job.Name
		labels["job-name"] = job.Name
	}
	job.Spec.Selector = &metav1.LabelSelector{
		MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid},
	}
}

// Defaults of a CronJob's history limits.
const (
	defaultSuccessfulJobsHistoryLimit = 3
	defaultFailedJobsHistoryLimit     = 1
)

// CronJob defaults a cron job: concurrencyPolicy Allow, suspend false,
// successfulJobsHistoryLimit 3, failedJobsHistoryLimit 1, and the pod
// defaults of the job template's pod template. The job template's own
// fields (parallelism, completions, backoffLimit, ...) are not defaulted
// here: the Jobs made from it get them when they are created, as in
// Kubernetes.
func CronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptrTo[int32](defaultSuccessfulJobsHistoryLimit)
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptrTo[int32](defaultFailedJobsHistoryLimit)
	}
	PodTemplateSpec(&spec.JobTemplate.Spec.Template)
}
