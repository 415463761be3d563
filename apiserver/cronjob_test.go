package apiserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

func cronJob(name, schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "report", Image: "busybox"}},
			}}}},
		},
	}
}

// TestCronJobs: batch/v1 cronjobs are served with Kubernetes' defaults,
// validation, status subresource and table columns.
func TestCronJobs(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := apiservertest.Start(t, apiserver.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	cjs := s.Client.BatchV1().CronJobs("default")

	cj, err := cjs.Create(ctx, cronJob("report", "*/5 * * * *"), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, batchv1.AllowConcurrent, cj.Spec.ConcurrencyPolicy)
	require.Equal(t, ptr.To(false), cj.Spec.Suspend)
	require.Equal(t, ptr.To[int32](3), cj.Spec.SuccessfulJobsHistoryLimit)
	require.Equal(t, ptr.To[int32](1), cj.Spec.FailedJobsHistoryLimit)
	require.Equal(t, corev1.DNSClusterFirst, cj.Spec.JobTemplate.Spec.Template.Spec.DNSPolicy, "pod defaults in the job template")
	require.Equal(t, int64(1), cj.Generation)

	// Status goes through /status only.
	cj.Status.LastScheduleTime = &metav1.Time{Time: now.Add(-3 * time.Minute)}
	cj.Status.Active = []corev1.ObjectReference{{Kind: "Job", Namespace: "default", Name: "report-1"}}
	cj, err = cjs.UpdateStatus(ctx, cj, metav1.UpdateOptions{})
	require.NoError(t, err)
	cj.Spec.Suspend = ptr.To(true)
	cj.Status = batchv1.CronJobStatus{}
	cj, err = cjs.Update(ctx, cj, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Len(t, cj.Status.Active, 1, "an update of the main resource kept the status")
	require.Equal(t, int64(2), cj.Generation)

	var table metav1.Table
	require.NoError(t, json.Unmarshal([]byte(getTable(t, s.URL+"/apis/batch/v1/namespaces/default/cronjobs")), &table))
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	require.Equal(t, []string{"Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age", "Containers", "Images", "Selector"}, cols)
	for _, c := range table.ColumnDefinitions[7:] {
		require.Equal(t, int32(1), c.Priority, "%s is a -o wide column", c.Name)
	}
	require.Len(t, table.Rows, 1)
	require.Equal(t, []any{"report", "*/5 * * * *", "<none>", "True", float64(1), "3m", "0s", "report", "busybox", "<none>"}, table.Rows[0].Cells)

	// Discovery: short name and category.
	_, lists, err := s.Client.Discovery().ServerGroupsAndResources()
	require.NoError(t, err)
	var found *metav1.APIResource
	for _, l := range lists {
		if l.GroupVersion == "batch/v1" {
			for i := range l.APIResources {
				if l.APIResources[i].Name == "cronjobs" {
					found = &l.APIResources[i]
				}
			}
		}
	}
	require.NotNil(t, found, "batch/v1 cronjobs in discovery")
	require.Equal(t, []string{"cj"}, found.ShortNames)
	require.Equal(t, []string{"all"}, found.Categories)
	require.True(t, found.Namespaced)

	// A Job made from the template with an owner reference, as kubectl
	// create job --from=cronjob/report does, gets its selector.
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "report-manual", Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: ptr.To(true)}}},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	job, err = s.Client.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NotNil(t, job.Spec.Selector)
	require.Equal(t, cj.UID, metav1.GetControllerOf(job).UID)
}

// TestCronJobValidation: a bad cron job gets a 422 Status naming the
// field, and nothing is stored.
func TestCronJobValidation(t *testing.T) {
	s := newRawServer(t)
	const path = "/apis/batch/v1/namespaces/default/cronjobs"
	for _, tc := range []struct {
		name   string
		mutate func(*batchv1.CronJob)
		field  string
		msg    string
	}{
		{"bad schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every minute" }, "spec.schedule", "every minute"},
		{"six fields", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 0 * * * *" }, "spec.schedule", ""},
		{"TZ in schedule", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, "spec.schedule", "timeZone"},
		{"unknown time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Moon/Tranquility") }, "spec.timeZone", ""},
		{"concurrency policy", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = "Never" }, "spec.concurrencyPolicy", "Allow"},
		{"negative limit", func(cj *batchv1.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](-1) }, "spec.successfulJobsHistoryLimit", ""},
		{"negative deadline", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](-5) }, "spec.startingDeadlineSeconds", ""},
		{"restartPolicy Always", func(cj *batchv1.CronJob) {
			cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, "spec.jobTemplate.spec.template.spec.restartPolicy", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := cronJob("bad", "@hourly")
			cj.APIVersion, cj.Kind = "batch/v1", "CronJob"
			tc.mutate(cj)
			body, err := json.Marshal(cj)
			require.NoError(t, err)
			before := s.revision(t)
			rec := s.do(http.MethodPost, path, "application/json", body)
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, "body: %s", rec.Body.String())
			st := decodeStatus(t, rec)
			require.Equal(t, metav1.StatusReasonInvalid, st.Reason)
			require.Contains(t, st.Message, `CronJob.batch "bad" is invalid`)
			require.Contains(t, st.Message, tc.msg)
			require.NotNil(t, st.Details)
			var fields []string
			for _, c := range st.Details.Causes {
				fields = append(fields, c.Field)
			}
			require.Contains(t, fields, tc.field)
			require.Equal(t, before, s.revision(t), "a rejected cron job was stored")
		})
	}
	rec := s.do(http.MethodGet, path+"/bad", "", nil)
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.True(t, apierrors.IsNotFound(apierrors.FromObject(ptr.To(decodeStatus(t, rec)))))
}

// TestKubectlCronJob: kubectl create cronjob, get, explain and create job
// --from=cronjob/... work with every supported kubectl.
func TestKubectlCronJob(t *testing.T) {
	for name, bin := range kubectlBinaries(t) {
		t.Run(name, func(t *testing.T) {
			_, cs, url := newTestServer(t)
			k := &kubectlRunner{t: t, bin: bin, server: url, home: t.TempDir()}
			ctx := context.Background()

			out := k.run("create", "cronjob", "report", "--image=busybox", "--schedule=*/1 * * * *", "--", "date")
			require.Contains(t, out, "cronjob.batch/report created")
			out = k.fail("create", "cronjob", "broken", "--image=busybox", "--schedule=61 * * * *")
			require.Contains(t, out, "spec.schedule")
			require.Contains(t, out, "is invalid")

			out = k.run("get", "cronjobs")
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Len(t, lines, 2, out)
			require.Regexp(t, `^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE$`, lines[0])
			require.Regexp(t, `^report\s+\*/1 \* \* \* \*\s+<none>\s+False\s+0\s+<none>\s+\S+$`, lines[1])
			out = k.run("get", "cj", "-o", "wide")
			require.Regexp(t, `CONTAINERS\s+IMAGES\s+SELECTOR`, out)
			require.Regexp(t, `report\s+busybox\s+<none>`, out)
			require.Contains(t, k.run("get", "all"), "cronjob.batch/report")

			out = k.run("explain", "cronjob.spec")
			require.Contains(t, out, "concurrencyPolicy")
			require.Contains(t, out, "jobTemplate")

			out = k.run("create", "job", "report-now", "--from=cronjob/report")
			require.Contains(t, out, "job.batch/report-now created")
			cj, err := cs.BatchV1().CronJobs("default").Get(ctx, "report", metav1.GetOptions{})
			require.NoError(t, err)
			job, err := cs.BatchV1().Jobs("default").Get(ctx, "report-now", metav1.GetOptions{})
			require.NoError(t, err)
			require.Len(t, job.OwnerReferences, 1, "%+v", job.OwnerReferences)
			require.Equal(t, cj.UID, job.OwnerReferences[0].UID)
			require.Equal(t, []string{"date"}, job.Spec.Template.Spec.Containers[0].Command)
			require.Equal(t, "manual", job.Annotations["cronjob.kubernetes.io/instantiate"])

			k.run("patch", "cronjob", "report", "-p", `{"spec":{"suspend":true}}`)
			require.Equal(t, "true", k.run("get", "cj", "report", "-o", "jsonpath={.spec.suspend}"))
			k.run("delete", "cronjob", "report")
		})
	}
}
