package validation

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCronJob(t *testing.T) {
	runCreate(t, validCronJob, []testCase[*batchv1.CronJob]{
		{"valid", func(*batchv1.CronJob) {}, nil},
		{"descriptor", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@hourly" }, nil},
		{"every", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@every 90m" }, nil},
		{"ranges and names", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 9-17/2 * JAN-JUN MON-FRI" }, nil},
		{"time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("Europe/Berlin") }, nil},
		{"no schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, []want{required("spec.schedule")}},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every minute" }, []want{invalid("spec.schedule")}},
		{"six fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 */5 * * * *" }, []want{invalid("spec.schedule")}},
		{"minute out of range", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }, []want{invalid("spec.schedule")}},
		{"unknown descriptor", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@fortnightly" }, []want{invalid("spec.schedule")}},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC 0 * * * *" }, []want{invalid("spec.schedule")}},
		{"CRON_TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=Europe/Berlin 0 * * * *" }, []want{invalid("spec.schedule")}},
		{"unknown time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("Mars/Olympus_Mons") }, []want{invalid("spec.timeZone")}},
		{"empty time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("") }, []want{invalid("spec.timeZone")}},
		{"Local", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("Local") }, []want{invalid("spec.timeZone")}},
		{"path as time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("../../etc/passwd") }, []want{invalid("spec.timeZone")}},
		{"bad concurrencyPolicy", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" }, []want{notSupported("spec.concurrencyPolicy")}},
		{"no concurrencyPolicy", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "" }, []want{required("spec.concurrencyPolicy")}},
		{"negative startingDeadlineSeconds", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr[int64](-1) }, []want{invalid("spec.startingDeadlineSeconds")}},
		{"negative successful limit", func(cj *batchv1.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = ptr[int32](-1) }, []want{invalid("spec.successfulJobsHistoryLimit")}},
		{"negative failed limit", func(cj *batchv1.CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr[int32](-1) }, []want{invalid("spec.failedJobsHistoryLimit")}},
		{"zero limits", func(cj *batchv1.CronJob) {
			cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit = ptr[int32](0), ptr[int32](0)
		}, nil},
		{"name too long", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 53) }, []want{invalid("metadata.name")}},
		{"name of 52", func(cj *batchv1.CronJob) { cj.Name = strings.Repeat("a", 52) }, nil},
		{"template restartPolicy Always", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, []want{notSupported("spec.jobTemplate.spec.template.spec.restartPolicy")}},
		{"template without image", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = ""
		}, []want{required("spec.jobTemplate.spec.template.spec.containers[0].image")}},
		{"negative template parallelism", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Parallelism = ptr[int32](-1) }, []want{invalid("spec.jobTemplate.spec.parallelism")}},
		{"manual selector", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = ptr(true) }, []want{notSupported("spec.jobTemplate.spec.manualSelector")}},
		{"bad template label", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Labels = map[string]string{"a b": "c"}
		}, []want{invalid("spec.jobTemplate.metadata.labels")}},
	})
	runUpdate(t, validCronJob, false, []testCase[*batchv1.CronJob]{
		{"schedule may change", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@daily" }, nil},
		{"template may change", func(cj *batchv1.CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "other" }, nil},
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "* *" }, []want{invalid("spec.schedule")}},
		{"TZ added", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "TZ=UTC * * * * *" }, []want{invalid("spec.schedule")}},
	})
	withTZ := func() *batchv1.CronJob { cj := validCronJob(); cj.Spec.Schedule = "TZ=UTC 0 * * * *"; return cj }
	runUpdate(t, withTZ, false, []testCase[*batchv1.CronJob]{
		{"a stored TZ stays allowed", func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr(true) }, nil},
		{"but not with timeZone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("Etc/UTC") }, []want{invalid("spec.schedule")}},
	})
	runUpdate(t, validCronJob, true, []testCase[*batchv1.CronJob]{
		{"status", func(cj *batchv1.CronJob) {
			cj.Status.Active = []corev1.ObjectReference{{Kind: "Job", Namespace: "default", Name: "report-1"}}
			cj.Status.LastScheduleTime = &metav1.Time{}
		}, nil},
		{"active without a name", func(cj *batchv1.CronJob) {
			cj.Status.Active = []corev1.ObjectReference{{Kind: "Job"}}
		}, []want{required("status.active[0].name")}},
	})
}
