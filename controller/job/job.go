package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/replicaset"
)

// Name is the controller's name in --controllers.
const Name = "job"

var gvk = batchv1.SchemeGroupVersion.WithKind("Job")

// Options configure the controller. Client, Jobs and Pods are required.
type Options struct {
	Client  kubernetes.Interface
	Jobs    batchinformers.JobInformer
	Pods    coreinformers.PodInformer
	Clock   clock.WithTicker
	Workers int
	Metrics *controller.Metrics
	// Recorder receives the Job's events: SuccessfulCreate, FailedCreate,
	// SuccessfulDelete and FailedDelete for its pods, Completed, and
	// BackoffLimitExceeded or DeadlineExceeded when it fails; nil means
	// none (Manager.EventRecorder sends them to the API server).
	Recorder record.EventRecorder
}

// Reconciler is the Job reconcile logic.
type Reconciler struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	podInf cache.SharedIndexInformer
	clock  clock.WithTicker
	exp    *controller.Expectations
	rec    record.EventRecorder
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the Job controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.Jobs == nil || opts.Pods == nil {
		return nil, errors.New("job: Options.Client, Jobs and Pods are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Workers == 0 {
		opts.Workers = 5
	}
	if opts.Recorder == nil {
		opts.Recorder = &record.FakeRecorder{} // no channel: discards
	}
	r := &Reconciler{client: opts.Client, jobs: opts.Jobs.Lister(), podInf: opts.Pods.Informer(), clock: opts.Clock,
		exp: controller.NewExpectations(opts.Clock), rec: opts.Recorder}
	if err := controller.AddControllerUIDIndex(r.podInf); err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: r, Workers: opts.Workers, Clock: opts.Clock, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.Jobs.Informer(), controller.ForObject()); err != nil {
		return nil, err
	}
	owner := controller.ForControllerOwner(gvk.GroupKind())
	reg, err := r.podInf.AddEventHandler(controller.ObservingHandler(c, owner, r.exp))
	if err != nil {
		return nil, err
	}
	c.WaitFor(reg.HasSynced)
	return c, nil
}

// Register adds the controller to m.
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return New(Options{Client: m.Client(), Jobs: f.Batch().V1().Jobs(), Pods: f.Core().V1().Pods(), Clock: m.Clock(), Metrics: m.Metrics(),
			Recorder: m.EventRecorder("job-controller")})
	}})
}

func finished(j *batchv1.Job) bool { return FinishedAs(j) != "" }

// FinishedAs returns JobComplete or JobFailed for a finished Job, "" for
// one that is still running.
func FinishedAs(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

func setCond(st *batchv1.JobStatus, t batchv1.JobConditionType, reason, msg string, now time.Time) {
	for _, c := range st.Conditions {
		if c.Type == t {
			return
		}
	}
	nt := metav1.NewTime(now)
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastProbeTime: nt, LastTransitionTime: nt})
}

// Reconcile runs the Job req names one step.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	key := req.String()
	j, err := r.jobs.Jobs(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		r.exp.Forget(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if finished(j) || j.DeletionTimestamp != nil {
		return controller.Result{}, nil
	}
	what := fmt.Sprintf("job %q", key)
	now := r.clock.Now()
	// Expectations before the pods are listed (see the replicaset
	// controller): a creation that satisfies them is already in the list.
	satisfied := r.exp.Satisfied(key)
	objs, err := r.podInf.GetIndexer().ByIndex(controller.ControllerUIDIndex, string(j.UID))
	if err != nil {
		return controller.Result{}, err
	}
	var active []*corev1.Pod
	var succeeded, failed, ready int32
	for _, o := range objs {
		p := o.(*corev1.Pod)
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded++
		case p.Status.Phase == corev1.PodFailed:
			failed++
		case p.DeletionTimestamp == nil:
			active = append(active, p)
			if controller.PodReady(p) {
				ready++
			}
		}
	}
	st := *j.Status.DeepCopy()
	if st.StartTime == nil {
		st.StartTime = &metav1.Time{Time: now}
	}
	st.Succeeded, st.Failed, st.Ready = succeeded, failed, ptr.To(ready)
	parallelism := ptr.Deref(j.Spec.Parallelism, 1)
	var requeue time.Duration
	failReason, failMsg := "", ""
	if d := j.Spec.ActiveDeadlineSeconds; d != nil {
		end := st.StartTime.Add(time.Duration(*d) * time.Second)
		if !now.Before(end) {
			failReason, failMsg = batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
		} else {
			requeue = end.Sub(now)
		}
	}
	if failed > ptr.Deref(j.Spec.BackoffLimit, 6) {
		failReason, failMsg = batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	}
	complete := false
	if c := j.Spec.Completions; c != nil {
		complete = succeeded >= *c
	} else {
		complete = succeeded > 0 && len(active) == 0
	}
	var manageErr error
	switch {
	case failReason != "" || complete:
		manageErr = r.deleteAll(ctx, j, active)
		active = nil
		if failReason != "" {
			setCond(&st, batchv1.JobFailureTarget, failReason, failMsg, now)
			setCond(&st, batchv1.JobFailed, failReason, failMsg, now)
		} else {
			setCond(&st, batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods", now)
			setCond(&st, batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods", now)
			st.CompletionTime = &metav1.Time{Time: now}
		}
		requeue = 0
	case satisfied:
		want := parallelism
		if c := j.Spec.Completions; c != nil {
			want = min(parallelism, *c-succeeded)
		} else if succeeded > 0 {
			want = 0
		}
		diff := int(want) - len(active)
		if diff > 0 {
			r.exp.Expect(key, diff, 0)
			n, err := replicaset.SlowStartBatch(diff, 1, func() error { return r.createPod(ctx, j) })
			if n < diff {
				r.exp.Observed(key, diff-n, 0)
			}
			manageErr = err
			st.Active = int32(len(active) + n)
		} else if diff < 0 {
			victims := replicaset.PodsToDelete(active, -diff)
			r.exp.Expect(key, 0, len(victims))
			manageErr = r.deleteAll(ctx, j, victims)
			st.Active = int32(len(active) - len(victims))
		} else {
			st.Active = int32(len(active))
		}
	default:
		st.Active = int32(len(active))
	}
	if failReason != "" || complete {
		st.Active = 0
	}
	if !apiequality.Semantic.DeepEqual(st, j.Status) {
		j = j.DeepCopy()
		j.Status = st
		_, err := r.client.BatchV1().Jobs(j.Namespace).UpdateStatus(ctx, j, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return controller.Result{}, fmt.Errorf("%s: update status: %w", what, err)
		}
		// The Job finished with this write (a finished Job is not
		// reconciled again): say how, once.
		switch {
		case err != nil:
		case failReason != "":
			r.rec.Event(j, corev1.EventTypeWarning, failReason, failMsg)
		case complete:
			r.rec.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
		}
	}
	if manageErr != nil {
		return controller.Result{}, fmt.Errorf("%s: %w", what, manageErr)
	}
	return controller.Result{RequeueAfter: requeue}, nil
}

// deleteAll deletes the Job's pods, recording an event on j for each.
func (r *Reconciler) deleteAll(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod) error {
	var errs []error
	for _, p := range pods {
		err := r.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		switch {
		case err == nil:
			r.rec.Eventf(j, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
		case !apierrors.IsNotFound(err):
			r.rec.Eventf(j, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			errs = append(errs, fmt.Errorf("delete pod %q: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) createPod(ctx context.Context, j *batchv1.Job) error {
	t := j.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: j.Name + "-", Namespace: j.Namespace, Labels: t.Labels, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(j, gvk)},
		},
		Spec: t.Spec,
	}
	created, err := r.client.CoreV1().Pods(j.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		r.rec.Eventf(j, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("create pod: %w", err)
	}
	r.rec.Eventf(j, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}
