package job_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/job"
)

const wait = 20 * time.Second

func start(t *testing.T) (kubernetes.Interface, *clocktesting.FakeClock) {
	s := controllertest.Start(t, apiserver.Options{})
	clk := clocktesting.NewFakeClock(time.Now())
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client, Clock: clk})
	require.NoError(t, err)
	require.NoError(t, job.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return s.Client, clk
}

func newJob(name string, completions, parallelism *int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: completions, Parallelism: parallelism, BackoffLimit: ptr.To[int32](1),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "x"}}}},
		},
	}
}

func activePods(t *testing.T, cs kubernetes.Interface, j *batchv1.Job) []corev1.Pod {
	t.Helper()
	l, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []corev1.Pod
	for _, p := range l.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == j.UID && p.DeletionTimestamp == nil &&
			p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func finish(t *testing.T, cs kubernetes.Interface, p corev1.Pod, phase corev1.PodPhase) {
	t.Helper()
	p.Status.Phase = phase
	_, err := cs.CoreV1().Pods("default").UpdateStatus(context.Background(), &p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func condition(j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == ct && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func TestJobs(t *testing.T) {
	cs, clk := start(t)
	ctx := context.Background()
	get := func(name string) *batchv1.Job {
		j, err := cs.BatchV1().Jobs("default").Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return j
	}

	t.Run("completions with parallelism", func(t *testing.T) {
		j, err := cs.BatchV1().Jobs("default").Create(ctx, newJob("work", ptr.To[int32](3), ptr.To[int32](2)), metav1.CreateOptions{})
		require.NoError(t, err)
		for done := 0; done < 3; done++ {
			want := min(2, 3-done)
			controllertest.Eventually(t, wait, "active pods", func() (bool, error) { return len(activePods(t, cs, j)) == want, nil })
			require.Len(t, activePods(t, cs, j), want, "never more than parallelism")
			finish(t, cs, activePods(t, cs, j)[0], corev1.PodSucceeded)
			controllertest.Eventually(t, wait, "succeeded counted", func() (bool, error) { return get("work").Status.Succeeded == int32(done+1), nil })
		}
		controllertest.Eventually(t, wait, "complete", func() (bool, error) {
			j := get("work")
			return condition(j, batchv1.JobComplete) != nil && j.Status.CompletionTime != nil && j.Status.Active == 0, nil
		})
		waitEvents(t, cs, j, "Normal SuccessfulCreate Created pod: work-", 3)
		waitEvents(t, cs, j, "Normal Completed Job completed", 1)
	})

	t.Run("backoffLimit", func(t *testing.T) {
		j, err := cs.BatchV1().Jobs("default").Create(ctx, newJob("flaky", nil, nil), metav1.CreateOptions{})
		require.NoError(t, err)
		for i := range 2 {
			controllertest.Eventually(t, wait, "a pod", func() (bool, error) { return len(activePods(t, cs, j)) == 1, nil })
			finish(t, cs, activePods(t, cs, j)[0], corev1.PodFailed)
			controllertest.Eventually(t, wait, "failure counted", func() (bool, error) { return get("flaky").Status.Failed == int32(i+1), nil })
		}
		controllertest.Eventually(t, wait, "failed", func() (bool, error) {
			c := condition(get("flaky"), batchv1.JobFailed)
			return c != nil && c.Reason == batchv1.JobReasonBackoffLimitExceeded, nil
		})
		require.Empty(t, activePods(t, cs, j))
		waitEvents(t, cs, j, "Warning BackoffLimitExceeded Job has reached the specified backoff limit", 1)
		require.Zero(t, countEvents(t, cs, j, "Normal Completed"))
	})

	t.Run("activeDeadlineSeconds", func(t *testing.T) {
		spec := newJob("slow", ptr.To[int32](1), ptr.To[int32](1))
		spec.Spec.ActiveDeadlineSeconds = ptr.To[int64](30)
		j, err := cs.BatchV1().Jobs("default").Create(ctx, spec, metav1.CreateOptions{})
		require.NoError(t, err)
		controllertest.Eventually(t, wait, "running", func() (bool, error) {
			return len(activePods(t, cs, j)) == 1 && get("slow").Status.StartTime != nil, nil
		})
		clk.Step(29 * time.Second)
		require.Nil(t, condition(get("slow"), batchv1.JobFailed))
		clk.Step(time.Second)
		controllertest.Eventually(t, wait, "deadline exceeded", func() (bool, error) {
			c := condition(get("slow"), batchv1.JobFailed)
			return c != nil && c.Reason == batchv1.JobReasonDeadlineExceeded && len(activePods(t, cs, j)) == 0, nil
		})
		waitEvents(t, cs, j, "Warning DeadlineExceeded Job was active longer than specified deadline", 1)
		waitEvents(t, cs, j, "Normal SuccessfulDelete Deleted pod: slow-", 1)
	})
}

// countEvents adds up the counts of the Events about j (listed through the
// API by involvedObject, as kubectl describe does) whose "type reason
// message" starts with prefix.
func countEvents(t *testing.T, cs kubernetes.Interface, j *batchv1.Job, prefix string) int {
	t.Helper()
	l, err := cs.CoreV1().Events(j.Namespace).List(context.Background(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Job,involvedObject.name=" + j.Name,
	})
	require.NoError(t, err)
	n := 0
	for _, e := range l.Items {
		if strings.HasPrefix(e.Type+" "+e.Reason+" "+e.Message, prefix) {
			require.Equal(t, j.UID, e.InvolvedObject.UID)
			require.Equal(t, "job-controller", e.Source.Component)
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// waitEvents waits until n events about j start with prefix.
func waitEvents(t *testing.T, cs kubernetes.Interface, j *batchv1.Job, prefix string, n int) {
	t.Helper()
	controllertest.Eventually(t, wait, fmt.Sprintf("%d %q events", n, prefix), func() (bool, error) {
		return countEvents(t, cs, j, prefix) == n, nil
	})
}

// TestEventsOnScaleDown: lowering parallelism deletes pods, each a
// SuccessfulDelete event on the Job.
func TestEventsOnScaleDown(t *testing.T) {
	cs, _ := start(t)
	ctx := context.Background()
	j, err := cs.BatchV1().Jobs("default").Create(ctx, newJob("wide", ptr.To[int32](5), ptr.To[int32](3)), metav1.CreateOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "3 active pods", func() (bool, error) { return len(activePods(t, cs, j)) == 3, nil })
	waitEvents(t, cs, j, "Normal SuccessfulCreate Created pod: wide-", 3)
	_, err = cs.BatchV1().Jobs("default").Patch(ctx, "wide", types.MergePatchType, []byte(`{"spec":{"parallelism":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "1 active pod", func() (bool, error) { return len(activePods(t, cs, j)) == 1, nil })
	waitEvents(t, cs, j, "Normal SuccessfulDelete Deleted pod: wide-", 2)
}
