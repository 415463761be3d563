package cronjob

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/controller"
	jobctl "github.com/gantryhq/gantry/controller/job"
)

// Name is the controller's name in --controllers.
const Name = "cronjob"

var (
	gvk    = batchv1.SchemeGroupVersion.WithKind("CronJob")
	jobGVK = batchv1.SchemeGroupVersion.WithKind("Job")
)

// Options configure the controller. Client, CronJobs and Jobs are
// required.
type Options struct {
	Client   kubernetes.Interface
	CronJobs batchinformers.CronJobInformer
	Jobs     batchinformers.JobInformer
	// Clock decides when schedules are due and drives the requeue at the
	// next one; nil means the real clock.
	Clock clock.WithTicker
	// Location is the time zone of cron jobs without spec.timeZone; nil
	// means the process's local time (time.Local), as in Kubernetes.
	Location *time.Location
	// Workers defaults to 5.
	Workers int
	Metrics *controller.Metrics
	// Recorder receives the cron jobs' events (SuccessfulCreate,
	// SawCompletedJob, SuccessfulDelete, JobAlreadyActive, MissSchedule,
	// TooManyMissedTimes, ...); nil means none (Manager.EventRecorder sends
	// them to the API server).
	Recorder record.EventRecorder
}

// Reconciler is the CronJob reconcile logic.
type Reconciler struct {
	client kubernetes.Interface
	cjs    batchlisters.CronJobLister
	jobInf cache.SharedIndexInformer
	clock  clock.WithTicker
	loc    *time.Location
	rec    record.EventRecorder
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the CronJob controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.CronJobs == nil || opts.Jobs == nil {
		return nil, errors.New("cronjob: Options.Client, CronJobs and Jobs are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Workers == 0 {
		opts.Workers = 5
	}
	if opts.Recorder == nil {
		opts.Recorder = &record.FakeRecorder{} // no channel: discards
	}
	r := &Reconciler{client: opts.Client, cjs: opts.CronJobs.Lister(), jobInf: opts.Jobs.Informer(),
		clock: opts.Clock, loc: opts.Location, rec: opts.Recorder}
	if err := controller.AddControllerUIDIndex(r.jobInf); err != nil {
		return nil, fmt.Errorf("cronjob: %w", err)
	}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: r, Workers: opts.Workers, Clock: opts.Clock, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.CronJobs.Informer(), controller.ForObject()); err != nil {
		return nil, err
	}
	if err := c.Watch(r.jobInf, controller.ForControllerOwner(gvk.GroupKind())); err != nil {
		return nil, err
	}
	return c, nil
}

// Register adds the controller to m.
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return New(Options{Client: m.Client(), CronJobs: f.Batch().V1().CronJobs(), Jobs: f.Batch().V1().Jobs(), Clock: m.Clock(),
			Metrics: m.Metrics(), Recorder: m.EventRecorder("cronjob-controller")})
	}})
}

// JobName is the name of the Job a cron job runs for the schedule time t:
// <cronjob>-<minutes since the Unix epoch>, the same for every attempt, so
// that a time is never run twice.
func JobName(cronJob string, t time.Time) string {
	return fmt.Sprintf("%s-%d", cronJob, t.Unix()/60)
}

func (r *Reconciler) ref(cj *batchv1.CronJob) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: gvk.Kind, APIVersion: gvk.GroupVersion().String(),
		Namespace: cj.Namespace, Name: cj.Name, UID: cj.UID, ResourceVersion: cj.ResourceVersion}
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: jobGVK.Kind, APIVersion: jobGVK.GroupVersion().String(),
		Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion}
}

// Reconcile brings the CronJob req names up to date: it syncs the status
// with its Jobs, deletes finished Jobs beyond the history limits, runs the
// most recent missed schedule time if there is one and the concurrency
// policy allows it, and asks to be called again at the next schedule time.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	cj, err := r.cjs.CronJobs(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	cj = cj.DeepCopy()
	old := cj.Status.DeepCopy()
	objs, err := r.jobInf.GetIndexer().ByIndex(controller.ControllerUIDIndex, string(cj.UID))
	if err != nil {
		return controller.Result{}, err
	}
	jobs := make([]*batchv1.Job, 0, len(objs))
	for _, o := range objs {
		jobs = append(jobs, o.(*batchv1.Job))
	}
	syncErr := r.syncActive(ctx, cj, jobs)
	sched, runErr := r.run(ctx, cj)
	cleanErr := r.cleanup(ctx, cj, jobs)
	if !apiequality.Semantic.DeepEqual(old, &cj.Status) {
		if _, err := r.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return controller.Result{}, fmt.Errorf("cronjob %q: update status: %w", req.String(), err)
		}
	}
	if err := errors.Join(syncErr, runErr, cleanErr); err != nil {
		return controller.Result{}, fmt.Errorf("cronjob %q: %w", req.String(), err)
	}
	if sched == nil {
		return controller.Result{}, nil
	}
	// Come back at the next schedule time, measured from the clock as it
	// is now that the writes are done.
	now := r.clock.Now()
	next := sched.Next(now)
	if next.IsZero() {
		return controller.Result{}, nil
	}
	return controller.Result{RequeueAfter: next.Sub(now)}, nil
}

// syncActive brings status.active and status.lastSuccessfulTime in line
// with the jobs the cron job controls: finished jobs leave the list (with
// a SawCompletedJob event), and so do jobs that no longer exist.
func (r *Reconciler) syncActive(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	byUID := make(map[string]*batchv1.Job, len(jobs))
	for _, j := range jobs {
		byUID[string(j.UID)] = j
	}
	var errs []error
	active := cj.Status.Active[:0:0]
	for _, ref := range cj.Status.Active {
		j, ok := byUID[string(ref.UID)]
		if !ok {
			// Not in the cache: created a moment ago, or gone. Ask.
			got, err := r.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err) || (err == nil && got.UID != ref.UID):
				r.rec.Eventf(r.ref(cj), corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
				continue
			case err != nil:
				errs = append(errs, fmt.Errorf("get job %q: %w", ref.Name, err))
				active = append(active, ref)
				continue
			}
			j = got
		}
		if cond := jobctl.FinishedAs(j); cond != "" {
			r.rec.Eventf(r.ref(cj), corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, status: %v", j.Name, cond)
			if cond == batchv1.JobComplete {
				noteSuccess(cj, j)
			}
			continue
		}
		active = append(active, ref)
	}
	for _, j := range jobs {
		if jobctl.FinishedAs(j) == batchv1.JobComplete {
			noteSuccess(cj, j)
		}
	}
	if len(active) == 0 {
		active = nil
	}
	cj.Status.Active = active
	return errors.Join(errs...)
}

func noteSuccess(cj *batchv1.CronJob, j *batchv1.Job) {
	t := j.Status.CompletionTime
	if t == nil {
		return
	}
	if last := cj.Status.LastSuccessfulTime; last == nil || t.After(last.Time) {
		cj.Status.LastSuccessfulTime = t.DeepCopy()
	}
}

// run starts the Job of the most recent missed schedule time, if any, and
// returns the schedule to wait on (nil: nothing to wait for).
func (r *Reconciler) run(ctx context.Context, cj *batchv1.CronJob) (cron.Schedule, error) {
	if cj.DeletionTimestamp != nil || ptr.Deref(cj.Spec.Suspend, false) {
		return nil, nil
	}
	sched, err := ParseSchedule(cj.Spec.Schedule, cj.Spec.TimeZone, r.loc)
	if err != nil {
		// Validation keeps these out; a stored object from before may not.
		if cj.Spec.TimeZone != nil {
			r.rec.Eventf(r.ref(cj), corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %v", *cj.Spec.TimeZone, err)
		} else {
			r.rec.Eventf(r.ref(cj), corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q: %v", cj.Spec.Schedule, err)
		}
		return nil, nil
	}
	now := r.clock.Now()
	earliest := cj.CreationTimestamp.Time
	if t := cj.Status.LastScheduleTime; t != nil {
		earliest = t.Time
	}
	missed := MissedSince(sched, earliest, now)
	if missed.Last.IsZero() {
		return sched, nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		// Only the times within the deadline count as missed: a
		// deadline is how a user bounds the catching up.
		deadline := now.Add(-time.Duration(*d) * time.Second)
		if deadline.After(earliest) {
			missed.Count = MissedSince(sched, deadline, now).Count
		}
		if missed.Last.Before(deadline) {
			r.rec.Eventf(r.ref(cj), corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s",
				missed.Last.UTC().Format(time.RFC1123Z))
			return sched, nil
		}
	}
	if missed.Count > TooManyMissed {
		r.rec.Eventf(r.ref(cj), corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed.Count)
	}
	scheduled := missed.Last
	name := JobName(cj.Name, scheduled)
	for _, ref := range cj.Status.Active {
		if ref.Name == name {
			// Already running this time (status written, cache behind).
			return sched, nil
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			r.rec.Eventf(r.ref(cj), corev1.EventTypeNormal, "JobAlreadyActive",
				"Not starting job because prior execution is running and concurrency policy is Forbid")
			return sched, nil
		}
	case batchv1.ReplaceConcurrent:
		for len(cj.Status.Active) > 0 {
			ref := cj.Status.Active[0]
			if err := r.deleteJob(ctx, cj, ref.Namespace, ref.Name); err != nil {
				return nil, err
			}
			cj.Status.Active = cj.Status.Active[1:]
		}
		cj.Status.Active = nil
	}
	job, err := r.newJob(cj, scheduled)
	if err != nil {
		return nil, err
	}
	created, err := r.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Created before, and the status update that should have
		// followed was lost: adopt it if it is ours.
		got, gerr := r.client.BatchV1().Jobs(cj.Namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return nil, fmt.Errorf("get job %q: %w", name, gerr)
		}
		if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != cj.UID {
			r.rec.Eventf(r.ref(cj), corev1.EventTypeWarning, "FailedCreate", "Error creating job: %s exists and is not controlled by this cron job", name)
			return sched, nil
		}
		created = got
	case err != nil:
		r.rec.Eventf(r.ref(cj), corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return nil, fmt.Errorf("create job %q: %w", name, err)
	default:
		r.rec.Eventf(r.ref(cj), corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	if jobctl.FinishedAs(created) == "" {
		cj.Status.Active = append(cj.Status.Active, jobRef(created))
	}
	cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return sched, nil
}

// newJob makes the Job of schedule time t from the cron job's template.
func (r *Reconciler) newJob(cj *batchv1.CronJob, t time.Time) (*batchv1.Job, error) {
	loc := time.UTC
	if tz := cj.Spec.TimeZone; tz != nil {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", *tz, err)
		}
		loc = l
	}
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := tmpl.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = t.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: JobName(cj.Name, t), Namespace: cj.Namespace,
			Labels: tmpl.Labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, gvk)},
		},
		Spec: tmpl.Spec,
	}, nil
}

func (r *Reconciler) deleteJob(ctx context.Context, cj *batchv1.CronJob, ns, name string) error {
	err := r.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		r.rec.Eventf(r.ref(cj), corev1.EventTypeWarning, "FailedDelete", "Error deleting job %s: %v", name, err)
		return fmt.Errorf("delete job %q: %w", name, err)
	}
	r.rec.Eventf(r.ref(cj), corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	return nil
}

// cleanup deletes the oldest finished jobs beyond the history limits: at
// most successfulJobsHistoryLimit completed and failedJobsHistoryLimit
// failed ones are kept.
func (r *Reconciler) cleanup(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	if cj.DeletionTimestamp != nil {
		return nil
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch jobctl.FinishedAs(j) {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	return errors.Join(
		r.keepNewest(ctx, cj, succeeded, cj.Spec.SuccessfulJobsHistoryLimit),
		r.keepNewest(ctx, cj, failed, cj.Spec.FailedJobsHistoryLimit))
}

func (r *Reconciler) keepNewest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, limit *int32) error {
	if limit == nil || len(jobs) <= int(*limit) {
		return nil
	}
	sort.Slice(jobs, func(a, b int) bool { return olderJob(jobs[a], jobs[b]) })
	var errs []error
	for _, j := range jobs[:len(jobs)-int(*limit)] {
		errs = append(errs, r.deleteJob(ctx, cj, j.Namespace, j.Name))
	}
	return errors.Join(errs...)
}

// olderJob orders jobs by start time (creation time for jobs that never
// started), then by name.
func olderJob(a, b *batchv1.Job) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if a.Status.StartTime != nil {
		ta = a.Status.StartTime.Time
	}
	if b.Status.StartTime != nil {
		tb = b.Status.StartTime.Time
	}
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Name < b.Name
}
