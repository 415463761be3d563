package validation

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxCronJobNameLength bounds a cron job's name: the controller names its
// Jobs <name>-<minutes since the epoch> (up to 11 more characters), and
// the Jobs' names end up in pod labels, which are at most 63 characters.
const MaxCronJobNameLength = 52

var (
	supportedConcurrencyPolicies = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}
	// timeZonePart is what one '/'-separated part of an IANA zone name may
	// hold ("America", "Argentina", "Buenos_Aires", "GMT+3", "UTC").
	timeZonePart = regexp.MustCompile(`^[A-Za-z0-9_+\-]+$`)
)

// CronJob validates a new cron job: a name of at most 52 characters; a
// required schedule that parses as a standard cron spec (five fields or a
// descriptor such as @hourly) and names no TZ= or CRON_TZ= time zone (that
// belongs in spec.timeZone); a timeZone that is a loadable IANA zone name
// (not "Local"); concurrencyPolicy Allow, Forbid or Replace;
// startingDeadlineSeconds and the history limits >= 0; and a valid job
// template (without a selector, and with manualSelector unset or false).
func CronJob(cj *batchv1.CronJob) field.ErrorList {
	errs := ObjectMeta(&cj.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	if len(cj.Name) > MaxCronJobNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, fmt.Sprintf("must be no more than %d characters", MaxCronJobNameLength)))
	}
	return append(errs, cronJobSpec(&cj.Spec, false, field.NewPath("spec"))...)
}

// CronJobUpdate validates an update of a cron job: the new spec as on
// create, except that a TZ= or CRON_TZ= prefix the stored schedule already
// had stays allowed (objects written before the rule), and the name length
// is not checked again.
func CronJobUpdate(newCJ, oldCJ *batchv1.CronJob) field.ErrorList {
	errs := ObjectMetaUpdate(&newCJ.ObjectMeta, &oldCJ.ObjectMeta, field.NewPath("metadata"))
	return append(errs, cronJobSpec(&newCJ.Spec, strings.Contains(oldCJ.Spec.Schedule, "TZ"), field.NewPath("spec"))...)
}

// CronJobStatusUpdate validates an update of a cron job's status: the
// metadata rules, and active jobs that name themselves.
func CronJobStatusUpdate(newCJ, oldCJ *batchv1.CronJob) field.ErrorList {
	errs := ObjectMetaUpdate(&newCJ.ObjectMeta, &oldCJ.ObjectMeta, field.NewPath("metadata"))
	for i, ref := range newCJ.Status.Active {
		if ref.Name == "" {
			errs = append(errs, field.Required(field.NewPath("status", "active").Index(i).Child("name"), ""))
		}
	}
	return errs
}

func cronJobSpec(spec *batchv1.CronJobSpec, tzInSchedule bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.Schedule == "" {
		errs = append(errs, field.Required(p.Child("schedule"), ""))
	} else {
		errs = append(errs, Schedule(spec.Schedule, tzInSchedule, spec.TimeZone != nil, p.Child("schedule"))...)
	}
	errs = append(errs, TimeZone(spec.TimeZone, p.Child("timeZone"))...)
	switch {
	case spec.ConcurrencyPolicy == "":
		errs = append(errs, field.Required(p.Child("concurrencyPolicy"), ""))
	case !slices.Contains(supportedConcurrencyPolicies, spec.ConcurrencyPolicy):
		errs = append(errs, field.NotSupported(p.Child("concurrencyPolicy"), spec.ConcurrencyPolicy, supportedConcurrencyPolicies))
	}
	errs = append(errs, nonNegativePtr(spec.StartingDeadlineSeconds, p.Child("startingDeadlineSeconds"))...)
	errs = append(errs, nonNegativePtr(spec.SuccessfulJobsHistoryLimit, p.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegativePtr(spec.FailedJobsHistoryLimit, p.Child("failedJobsHistoryLimit"))...)
	return append(errs, jobTemplate(&spec.JobTemplate, p.Child("jobTemplate"))...)
}

// Schedule checks a cron job's schedule: a standard cron spec as
// github.com/robfig/cron/v3 parses it (minute hour day-of-month month
// day-of-week, or @yearly, @monthly, @weekly, @daily, @hourly, @every
// <duration>). A TZ= or CRON_TZ= prefix is rejected unless tzAllowed (an
// update of a schedule that already had one), and even then not together
// with spec.timeZone (hasTimeZone).
func Schedule(schedule string, tzAllowed, hasTimeZone bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(p, schedule, err.Error()))
	}
	if strings.Contains(schedule, "TZ") {
		switch {
		case !tzAllowed:
			errs = append(errs, field.Invalid(p, schedule, "cannot use TZ or CRON_TZ in schedule, use the timeZone field instead"))
		case hasTimeZone:
			errs = append(errs, field.Invalid(p, schedule, "cannot use both the timeZone field and TZ or CRON_TZ in schedule"))
		}
	}
	return errs
}

// TimeZone checks a cron job's spec.timeZone: nil, or the name of an IANA
// time zone that this server can load ("Etc/UTC", "Europe/Berlin"); an
// empty name, "Local" and names that look like paths are rejected.
func TimeZone(tz *string, p *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	name := *tz
	if name == "" {
		return field.ErrorList{field.Invalid(p, name, "must be unset or the name of a time zone")}
	}
	for _, part := range strings.Split(name, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZonePart.MatchString(part) {
			return field.ErrorList{field.Invalid(p, name, fmt.Sprintf("unknown time zone %s", name))}
		}
	}
	if strings.EqualFold(name, "Local") {
		return field.ErrorList{field.Invalid(p, name, "must be an explicit IANA time zone name, not the server's local time")}
	}
	if _, err := time.LoadLocation(name); err != nil {
		return field.ErrorList{field.Invalid(p, name, err.Error())}
	}
	return nil
}

// jobTemplate validates a cron job's job template: its labels and
// annotations, and the job spec without a selector.
func jobTemplate(t *batchv1.JobTemplateSpec, p *field.Path) field.ErrorList {
	mp := p.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, mp.Child("labels"))
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(t.Annotations, mp.Child("annotations"))...)
	sp := p.Child("spec")
	if t.Spec.ManualSelector != nil && *t.Spec.ManualSelector {
		errs = append(errs, field.NotSupported(sp.Child("manualSelector"), t.Spec.ManualSelector, []string{"nil", "false"}))
	}
	return append(errs, jobSpecFields(&t.Spec, sp)...)
}
