package cronjob_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/cronjob"
)

const wait = 30 * time.Second

// t0 is when every test's cron job is created: half a minute past 10:00.
var t0 = time.Date(2025, 1, 6, 10, 0, 30, 0, time.UTC)

type env struct {
	t   *testing.T
	cs  kubernetes.Interface
	clk *clocktesting.FakeClock
	reg *prometheus.Registry
}

// start runs the API server and the cron job controller on one fake clock
// (the server's creation timestamps come from it too).
func start(t *testing.T) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	s := controllertest.Start(t, apiserver.Options{Now: clk.Now})
	reg := prometheus.NewRegistry()
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client, Clock: clk, Registry: reg})
	require.NoError(t, err)
	require.NoError(t, cronjob.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return &env{t: t, cs: s.Client, clk: clk, reg: reg}
}

// reconciles is how many reconciles the controller finished, and how many
// requests wait in its queue.
func (e *env) reconciles() (done, queued float64) {
	mfs, err := e.reg.Gather()
	require.NoError(e.t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "controller_reconcile_total":
				done += m.GetCounter().GetValue()
			case "workqueue_depth":
				queued += m.GetGauge().GetValue()
			}
		}
	}
	return done, queued
}

// step moves the clock once the controller is idle (it has reconciled,
// nothing is queued, no reconcile finished between two polls), so that the
// requeue it asked for is measured from the time it saw.
func (e *env) step(d time.Duration) {
	e.t.Helper()
	e.idle()
	e.clk.Step(d)
}

// idle waits until the controller has reconciled, has nothing queued and
// finished no reconcile between two polls.
func (e *env) idle() {
	e.t.Helper()
	last := -1.0
	controllertest.Eventually(e.t, wait, "controller idle", func() (bool, error) {
		n, q := e.reconciles()
		idle := n > 0 && n == last && q == 0
		last = n
		return idle, nil
	})
}

func newCronJob(name, schedule string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule, ConcurrencyPolicy: policy, TimeZone: ptr.To("Etc/UTC"),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
}

func (e *env) create(cj *batchv1.CronJob) *batchv1.CronJob {
	e.t.Helper()
	cj, err := e.cs.BatchV1().CronJobs("default").Create(context.Background(), cj, metav1.CreateOptions{})
	require.NoError(e.t, err)
	return cj
}

func (e *env) get(name string) *batchv1.CronJob {
	e.t.Helper()
	cj, err := e.cs.BatchV1().CronJobs("default").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return cj
}

// jobs returns the names of the jobs cj controls, sorted.
func (e *env) jobs(cj *batchv1.CronJob) []string {
	e.t.Helper()
	l, err := e.cs.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(e.t, err)
	var out []string
	for _, j := range l.Items {
		if ref := metav1.GetControllerOf(&j); ref != nil && ref.UID == cj.UID && j.DeletionTimestamp == nil {
			out = append(out, j.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (e *env) waitJobs(cj *batchv1.CronJob, want ...string) {
	e.t.Helper()
	sort.Strings(want)
	controllertest.Eventually(e.t, wait, fmt.Sprintf("jobs %v", want), func() (bool, error) {
		return fmt.Sprint(e.jobs(cj)) == fmt.Sprint(want), nil
	})
}

func (e *env) waitStatus(name, what string, ok func(*batchv1.CronJob) bool) {
	e.t.Helper()
	controllertest.Eventually(e.t, wait, name+": "+what, func() (bool, error) { return ok(e.get(name)), nil })
}

func activeNames(cj *batchv1.CronJob) []string {
	var out []string
	for _, r := range cj.Status.Active {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

// finish marks a job Complete or Failed, as the Job controller would.
func (e *env) finish(name string, cond batchv1.JobConditionType) {
	e.t.Helper()
	ctx := context.Background()
	j, err := e.cs.BatchV1().Jobs("default").Get(ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	now := metav1.NewTime(e.clk.Now())
	j.Status.StartTime = ptr.To(j.CreationTimestamp)
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: now})
	if cond == batchv1.JobComplete {
		j.Status.CompletionTime = &now
		j.Status.Succeeded = 1
	} else {
		j.Status.Failed = 1
	}
	_, err = e.cs.BatchV1().Jobs("default").UpdateStatus(ctx, j, metav1.UpdateOptions{})
	require.NoError(e.t, err)
}

// events returns the reasons and messages of the events about cron job
// name.
func (e *env) events(name string) []string {
	e.t.Helper()
	l, err := e.cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	require.NoError(e.t, err)
	var out []string
	for _, ev := range l.Items {
		out = append(out, ev.Reason+": "+ev.Message)
	}
	return out
}

func (e *env) waitEvent(name, want string) {
	e.t.Helper()
	controllertest.Eventually(e.t, wait, "event "+want, func() (bool, error) {
		for _, ev := range e.events(name) {
			if ev == want {
				return true, nil
			}
		}
		return false, nil
	})
}

// jobAt is the name of cron job name's job for minute m past 10:00 of t0.
func jobAt(name string, m int) string {
	return cronjob.JobName(name, time.Date(2025, 1, 6, 10, m, 0, 0, time.UTC))
}

func TestSchedulesJobs(t *testing.T) {
	e := start(t)
	cj := e.create(newCronJob("every", "*/1 * * * *", batchv1.AllowConcurrent))

	e.step(20 * time.Second) // 10:00:50, nothing due
	e.step(10 * time.Second) // 10:01:00
	e.waitJobs(cj, jobAt("every", 1))
	j, err := e.cs.BatchV1().Jobs("default").Get(context.Background(), jobAt("every", 1), metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "2025-01-06T10:01:00Z", j.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	ref := metav1.GetControllerOf(j)
	require.NotNil(t, ref)
	require.Equal(t, cj.UID, ref.UID)
	require.Equal(t, "CronJob", ref.Kind)
	require.Equal(t, "every", j.Labels["app"], "labels come from the job template")
	require.Equal(t, corev1.RestartPolicyNever, j.Spec.Template.Spec.RestartPolicy)
	e.waitStatus("every", "active and lastScheduleTime", func(cj *batchv1.CronJob) bool {
		return fmt.Sprint(activeNames(cj)) == fmt.Sprint([]string{jobAt("every", 1)}) &&
			cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(t0.Add(30*time.Second))
	})
	e.waitEvent("every", "SuccessfulCreate: Created job "+jobAt("every", 1))

	// Allow: the next run starts while the first still runs.
	e.step(time.Minute)
	e.waitJobs(cj, jobAt("every", 1), jobAt("every", 2))
	e.waitStatus("every", "two active", func(cj *batchv1.CronJob) bool { return len(cj.Status.Active) == 2 })

	e.finish(jobAt("every", 1), batchv1.JobComplete)
	e.waitStatus("every", "completed job left active, lastSuccessfulTime", func(cj *batchv1.CronJob) bool {
		return fmt.Sprint(activeNames(cj)) == fmt.Sprint([]string{jobAt("every", 2)}) && cj.Status.LastSuccessfulTime != nil
	})
	e.waitEvent("every", fmt.Sprintf("SawCompletedJob: Saw completed job: %s, status: Complete", jobAt("every", 1)))
}

func TestMissedSchedules(t *testing.T) {
	t.Run("only the most recent runs", func(t *testing.T) {
		e := start(t)
		cj := e.create(newCronJob("late", "*/1 * * * *", batchv1.AllowConcurrent))
		e.step(5*time.Minute + 30*time.Second) // 10:06:00: 10:01 ... 10:06 missed
		e.waitJobs(cj, jobAt("late", 6))
	})
	t.Run("not when older than startingDeadlineSeconds", func(t *testing.T) {
		e := start(t)
		spec := newCronJob("deadline", "0 * * * *", batchv1.AllowConcurrent)
		spec.Spec.StartingDeadlineSeconds = ptr.To[int64](60)
		cj := e.create(spec)
		e.step(60*time.Minute + 30*time.Second) // 11:01:00; 11:00 was due a minute ago: in time
		e.waitJobs(cj, cronjob.JobName("deadline", time.Date(2025, 1, 6, 11, 0, 0, 0, time.UTC)))
		e.step(61*time.Minute + time.Second) // 12:02:01: 12:00 is 121s old
		e.waitEvent("deadline", "MissSchedule: Missed scheduled time to start a job: Mon, 06 Jan 2025 12:00:00 +0000")
		require.Len(t, e.jobs(cj), 1)
	})
	t.Run("too many missed", func(t *testing.T) {
		e := start(t)
		cj := e.create(newCronJob("many", "* * * * *", batchv1.AllowConcurrent))
		e.step(200*time.Minute + 30*time.Second) // 13:21:00, 201 missed
		e.waitJobs(cj, cronjob.JobName("many", time.Date(2025, 1, 6, 13, 21, 0, 0, time.UTC)))
		e.waitEvent("many", "TooManyMissedTimes: too many missed start times: 201. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	})
}

func TestConcurrencyPolicy(t *testing.T) {
	t.Run("Forbid", func(t *testing.T) {
		e := start(t)
		cj := e.create(newCronJob("forbid", "*/1 * * * *", batchv1.ForbidConcurrent))
		e.step(30 * time.Second)
		e.waitJobs(cj, jobAt("forbid", 1))
		e.step(time.Minute) // 10:02, the 10:01 job still runs
		e.waitEvent("forbid", "JobAlreadyActive: Not starting job because prior execution is running and concurrency policy is Forbid")
		require.Equal(t, []string{jobAt("forbid", 1)}, e.jobs(cj))
		// Once it finishes, the skipped time runs.
		e.finish(jobAt("forbid", 1), batchv1.JobComplete)
		e.waitJobs(cj, jobAt("forbid", 1), jobAt("forbid", 2))
	})
	t.Run("Replace", func(t *testing.T) {
		e := start(t)
		cj := e.create(newCronJob("replace", "*/1 * * * *", batchv1.ReplaceConcurrent))
		e.step(30 * time.Second)
		e.waitJobs(cj, jobAt("replace", 1))
		e.step(time.Minute)
		e.waitJobs(cj, jobAt("replace", 2))
		e.waitEvent("replace", "SuccessfulDelete: Deleted job "+jobAt("replace", 1))
		e.waitStatus("replace", "only the new job active", func(cj *batchv1.CronJob) bool {
			return fmt.Sprint(activeNames(cj)) == fmt.Sprint([]string{jobAt("replace", 2)})
		})
	})
}

func TestSuspend(t *testing.T) {
	e := start(t)
	spec := newCronJob("paused", "*/1 * * * *", batchv1.AllowConcurrent)
	spec.Spec.Suspend = ptr.To(true)
	cj := e.create(spec)
	e.step(30 * time.Second)
	e.step(time.Minute) // 10:02: two times missed while suspended
	require.Empty(t, e.jobs(cj))
	cj = e.get("paused")
	cj.Spec.Suspend = ptr.To(false)
	_, err := e.cs.BatchV1().CronJobs("default").Update(context.Background(), cj, metav1.UpdateOptions{})
	require.NoError(t, err)
	// Resumed: the most recent missed time runs at once.
	e.waitJobs(cj, jobAt("paused", 2))
}

func TestHistoryLimits(t *testing.T) {
	e := start(t)
	spec := newCronJob("history", "*/1 * * * *", batchv1.AllowConcurrent)
	spec.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2)
	spec.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	cj := e.create(spec)
	e.step(30 * time.Second)
	var all []string
	for m := 1; m <= 5; m++ {
		all = append(all, jobAt("history", m))
		e.waitJobs(cj, all...)
		cond := batchv1.JobComplete
		if m == 2 || m == 3 {
			cond = batchv1.JobFailed
		}
		e.finish(jobAt("history", m), cond)
		// Kept: the newest two complete, the newest failed.
		switch m {
		case 3:
			all = []string{jobAt("history", 1), jobAt("history", 3)}
		case 5:
			all = []string{jobAt("history", 3), jobAt("history", 4), jobAt("history", 5)}
		}
		e.waitJobs(cj, all...)
		e.waitStatus("history", "no active job", func(cj *batchv1.CronJob) bool { return len(cj.Status.Active) == 0 })
		if m < 5 {
			e.step(time.Minute)
		}
	}
	e.waitEvent("history", "SuccessfulDelete: Deleted job "+jobAt("history", 1))
	e.waitEvent("history", "SuccessfulDelete: Deleted job "+jobAt("history", 2))
}

func TestTimeZone(t *testing.T) {
	e := start(t)
	spec := newCronJob("tokyo", "0 20 * * *", batchv1.AllowConcurrent)
	spec.Spec.TimeZone = ptr.To("Asia/Tokyo") // 20:00 JST is 11:00 UTC
	cj := e.create(spec)
	e.step(59*time.Minute + 30*time.Second)
	e.waitJobs(cj, cronjob.JobName("tokyo", time.Date(2025, 1, 6, 11, 0, 0, 0, time.UTC)))
	j, err := e.cs.BatchV1().Jobs("default").Get(context.Background(), e.jobs(cj)[0], metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "2025-01-06T20:00:00+09:00", j.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
}

// TestDeletedCronJob: a deleted cron job runs nothing more.
func TestDeletedCronJob(t *testing.T) {
	e := start(t)
	cj := e.create(newCronJob("gone", "*/1 * * * *", batchv1.AllowConcurrent))
	e.idle()
	require.NoError(t, e.cs.BatchV1().CronJobs("default").Delete(context.Background(), "gone", metav1.DeleteOptions{}))
	e.step(30 * time.Second)
	e.step(time.Minute)
	require.Empty(t, e.jobs(cj))
}
