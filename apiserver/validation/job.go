package validation

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxIndexedCompletions bounds completions and parallelism of Indexed jobs.
const maxIndexedCompletions = 100000

var (
	supportedCompletionModes = []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}
	supportedReplacement     = []batchv1.PodReplacementPolicy{batchv1.TerminatingOrFailed, batchv1.Failed}
	supportedJobRestart      = []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	supportedFailureActions  = []batchv1.PodFailurePolicyAction{
		batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore,
	}
)

// Job validates a job: parallelism, completions, activeDeadlineSeconds,
// backoffLimit, backoffLimitPerIndex, maxFailedIndexes and
// ttlSecondsAfterFinished >= 0; a required selector matching the
// template's labels (the API server generates it unless manualSelector is
// set, see defaults.JobSelector); completionMode NonIndexed or Indexed
// (which needs completions, at most 100000); a valid template with
// restartPolicy OnFailure or Never; pod failure policy actions and pod
// replacement policy values.
func Job(job *batchv1.Job) field.ErrorList {
	errs := ObjectMeta(&job.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, jobSpec(&job.Spec, field.NewPath("spec"))...)
}

func jobSpec(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	errs := jobSpecFields(spec, p)
	sp := p.Child("selector")
	var sel labels.Selector
	if spec.Selector == nil {
		errs = append(errs, field.Required(sp, ""))
	} else if selErrs := metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, sp); len(selErrs) > 0 {
		errs = append(errs, selErrs...)
	} else if s, err := metav1.LabelSelectorAsSelector(spec.Selector); err != nil {
		errs = append(errs, field.Invalid(sp, spec.Selector, "invalid label selector"))
	} else {
		sel = s
	}
	if sel != nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), spec.Template.Labels, selectorMismatchMsg))
	}
	return errs
}

// jobSpecFields validates what a job spec and a cron job's job template
// have in common: everything but the selector, which a job template does
// not have (each Job made from it gets its own).
func jobSpecFields(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	errs := nonNegativePtr(spec.Parallelism, p.Child("parallelism"))
	errs = append(errs, nonNegativePtr(spec.Completions, p.Child("completions"))...)
	errs = append(errs, nonNegativePtr(spec.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	errs = append(errs, nonNegativePtr(spec.BackoffLimit, p.Child("backoffLimit"))...)
	errs = append(errs, nonNegativePtr(spec.TTLSecondsAfterFinished, p.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, nonNegativePtr(spec.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, nonNegativePtr(spec.MaxFailedIndexes, p.Child("maxFailedIndexes"))...)

	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if spec.CompletionMode != nil && !slices.Contains(supportedCompletionModes, *spec.CompletionMode) {
		errs = append(errs, field.NotSupported(p.Child("completionMode"), *spec.CompletionMode, supportedCompletionModes))
	}
	if indexed {
		if spec.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		} else if *spec.Completions > maxIndexedCompletions {
			errs = append(errs, field.Invalid(p.Child("completions"), *spec.Completions, fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxIndexedCompletions, batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxIndexedCompletions {
			errs = append(errs, field.Invalid(p.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxIndexedCompletions, batchv1.IndexedCompletion)))
		}
	} else {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Required(p.Child("completionMode"), "requires indexed completion mode when backoffLimitPerIndex is set"))
		}
	}
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		errs = append(errs, field.Required(p.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if spec.PodReplacementPolicy != nil && !slices.Contains(supportedReplacement, *spec.PodReplacementPolicy) {
		errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *spec.PodReplacementPolicy, supportedReplacement))
	}
	if pfp := spec.PodFailurePolicy; pfp != nil {
		for i, r := range pfp.Rules {
			rp := p.Child("podFailurePolicy", "rules").Index(i)
			if !slices.Contains(supportedFailureActions, r.Action) {
				errs = append(errs, field.NotSupported(rp.Child("action"), r.Action, supportedFailureActions))
			}
			switch {
			case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
				errs = append(errs, field.Invalid(rp, r, "specifying one of OnExitCodes and OnPodConditions is required"))
			case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
				errs = append(errs, field.Invalid(rp, r, "specifying both OnExitCodes and OnPodConditions is not supported"))
			}
		}
	}

	tp := p.Child("template")
	errs = append(errs, PodTemplateSpec(&spec.Template, tp)...)
	if rp := spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp, supportedJobRestart))
	}
	return errs
}

// JobUpdate validates an update of a job: the new spec; selector,
// completionMode, manualSelector and backoffLimitPerIndex are immutable;
// completions may change only for an Indexed job together with parallelism
// (kept equal); the template is immutable, except that while the job is
// suspended its labels, annotations, nodeSelector, tolerations, affinity
// and scheduling gates may change.
func JobUpdate(newJob, oldJob *batchv1.Job) field.ErrorList {
	errs := ObjectMetaUpdate(&newJob.ObjectMeta, &oldJob.ObjectMeta, field.NewPath("metadata"))
	p := field.NewPath("spec")
	ns, os := &newJob.Spec, &oldJob.Spec
	errs = append(errs, jobSpec(ns, p)...)
	errs = append(errs, immutable(ns.Selector, os.Selector, p.Child("selector"))...)
	errs = append(errs, immutable(ns.CompletionMode, os.CompletionMode, p.Child("completionMode"))...)
	errs = append(errs, immutable(ns.ManualSelector, os.ManualSelector, p.Child("manualSelector"))...)
	errs = append(errs, immutable(ns.BackoffLimitPerIndex, os.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	if !equality.Semantic.DeepEqual(ns.Completions, os.Completions) {
		elastic := ns.CompletionMode != nil && *ns.CompletionMode == batchv1.IndexedCompletion &&
			ns.Completions != nil && ns.Parallelism != nil && *ns.Completions == *ns.Parallelism
		if !elastic {
			errs = append(errs, immutable(ns.Completions, os.Completions, p.Child("completions"))...)
		}
	}
	tmpl := ns.Template.DeepCopy()
	if os.Suspend != nil && *os.Suspend {
		tmpl.Labels, tmpl.Annotations = os.Template.Labels, os.Template.Annotations
		tmpl.Spec.NodeSelector, tmpl.Spec.Tolerations = os.Template.Spec.NodeSelector, os.Template.Spec.Tolerations
		tmpl.Spec.Affinity, tmpl.Spec.SchedulingGates = os.Template.Spec.Affinity, os.Template.Spec.SchedulingGates
	}
	if !equality.Semantic.DeepEqual(tmpl, &os.Template) {
		errs = append(errs, field.Invalid(p.Child("template"), "", immutableMsg))
	}
	return errs
}

// JobStatusUpdate validates an update of a job's status: counters >= 0.
func JobStatusUpdate(newJob, oldJob *batchv1.Job) field.ErrorList {
	errs := ObjectMetaUpdate(&newJob.ObjectMeta, &oldJob.ObjectMeta, field.NewPath("metadata"))
	s := newJob.Status
	p := field.NewPath("status")
	errs = append(errs, nonNegative(int64(s.Active), p.Child("active"))...)
	errs = append(errs, nonNegative(int64(s.Succeeded), p.Child("succeeded"))...)
	errs = append(errs, nonNegative(int64(s.Failed), p.Child("failed"))...)
	errs = append(errs, nonNegativePtr(s.Ready, p.Child("ready"))...)
	return append(errs, nonNegativePtr(s.Terminating, p.Child("terminating"))...)
}
