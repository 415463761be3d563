package statefulset

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/history"
)

// Name is the controller's name in --controllers.
const Name = "statefulset"

// Labels set on every pod.
const (
	HashLabel    = appsv1.ControllerRevisionHashLabelKey
	PodNameLabel = appsv1.StatefulSetPodNameLabel
	OrdinalLabel = appsv1.PodIndexLabel
)

var gvk = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Options configure the controller. Client, StatefulSets, Pods and
// Revisions are required.
type Options struct {
	Client       kubernetes.Interface
	StatefulSets appsinformers.StatefulSetInformer
	Pods         coreinformers.PodInformer
	// Revisions are the ControllerRevisions in which the controller keeps
	// the StatefulSets' template history (kubectl rollout history/undo).
	Revisions appsinformers.ControllerRevisionInformer
	Clock     clock.WithTicker
	Workers   int
	Metrics   *controller.Metrics
	// Recorder receives the StatefulSet's SuccessfulCreate, FailedCreate,
	// SuccessfulDelete and FailedDelete events ("create Pod web-0 in
	// StatefulSet web successful"); nil means none (Manager.EventRecorder
	// sends them to the API server).
	Recorder record.EventRecorder
}

// Reconciler is the StatefulSet reconcile logic.
type Reconciler struct {
	client kubernetes.Interface
	sets   appslisters.StatefulSetLister
	revs   appslisters.ControllerRevisionLister
	podInf cache.SharedIndexInformer
	clock  clock.WithTicker
	rec    record.EventRecorder
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.StatefulSets == nil || opts.Pods == nil || opts.Revisions == nil {
		return nil, errors.New("statefulset: Options.Client, StatefulSets, Pods and Revisions are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.Recorder == nil {
		opts.Recorder = &record.FakeRecorder{} // no channel: discards
	}
	r := &Reconciler{client: opts.Client, sets: opts.StatefulSets.Lister(), revs: opts.Revisions.Lister(), podInf: opts.Pods.Informer(), clock: opts.Clock, rec: opts.Recorder}
	if err := controller.AddControllerUIDIndex(r.podInf); err != nil {
		return nil, fmt.Errorf("statefulset: %w", err)
	}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: r, Workers: opts.Workers, Clock: opts.Clock, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.StatefulSets.Informer(), controller.ForObject()); err != nil {
		return nil, err
	}
	if err := c.Watch(r.podInf, controller.ForControllerOwner(gvk.GroupKind())); err != nil {
		return nil, err
	}
	if err := c.Watch(opts.Revisions.Informer(), controller.ForControllerOwner(gvk.GroupKind())); err != nil {
		return nil, err
	}
	return c, nil
}

// Register adds the controller to m.
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return New(Options{Client: m.Client(), StatefulSets: f.Apps().V1().StatefulSets(), Pods: f.Core().V1().Pods(),
			Revisions: f.Apps().V1().ControllerRevisions(), Clock: m.Clock(), Metrics: m.Metrics(),
			Recorder: m.EventRecorder("statefulset-controller")})
	}})
}

// Hash is the hash of a template: its ControllerRevision is named
// <set>-<hash> (RevisionName), the pods' controller-revision-hash label.
func Hash(t *corev1.PodTemplateSpec) string { return history.Hash(t) }

// ordinal parses <set>-<n>; -1 if p is not one of set's pods.
func ordinal(set string, p *corev1.Pod) int {
	rest, ok := strings.CutPrefix(p.Name, set+"-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// Reconcile moves the StatefulSet req names one step.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	set, err := r.sets.StatefulSets(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	what := fmt.Sprintf("statefulset %q", req.String())
	objs, err := r.podInf.GetIndexer().ByIndex(controller.ControllerUIDIndex, string(set.UID))
	if err != nil {
		return controller.Result{}, err
	}
	replicas := int(ptr.Deref(set.Spec.Replicas, 1))
	start := 0
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	pods := map[int]*corev1.Pod{}
	var condemned []*corev1.Pod
	inUse := map[string]bool{}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp == nil {
			inUse[p.Labels[HashLabel]] = true
		}
		n := ordinal(set.Name, p)
		switch {
		case n < 0:
			continue
		case n < start || n >= start+replicas:
			condemned = append(condemned, p)
		default:
			pods[n] = p
		}
	}
	hash := Hash(&set.Spec.Template)
	rev := RevisionName(set, hash)
	if set.DeletionTimestamp == nil {
		if err := r.syncRevisions(ctx, set, hash, inUse); err != nil {
			return controller.Result{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	// updated: p runs the current template (a bare hash label is what
	// pods created before revisions were kept carry).
	updated := func(p *corev1.Pod) bool { return p.Labels[HashLabel] == rev || p.Labels[HashLabel] == hash }
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	now := r.clock.Now()
	st := appsv1.StatefulSetStatus{ObservedGeneration: set.Generation, UpdateRevision: rev, CurrentRevision: set.Status.CurrentRevision,
		CollisionCount: set.Status.CollisionCount, Conditions: set.Status.Conditions}
	count := func(p *corev1.Pod) {
		if !controller.PodActive(p) && p.DeletionTimestamp != nil {
			return
		}
		st.Replicas++
		if controller.PodReady(p) {
			st.ReadyReplicas++
			if controller.PodAvailable(p, 0, now) {
				st.AvailableReplicas++
			}
		}
		if updated(p) {
			st.UpdatedReplicas++
		}
	}
	for _, p := range pods {
		count(p)
	}
	for _, p := range condemned {
		count(p)
	}
	if st.UpdatedReplicas == st.Replicas && st.Replicas == int32(replicas) || st.CurrentRevision == "" || st.CurrentRevision == hash {
		st.CurrentRevision = rev
	}
	st.CurrentReplicas = st.UpdatedReplicas
	if st.CurrentRevision != rev {
		st.CurrentReplicas = st.Replicas - st.UpdatedReplicas
	}

	err = r.step(ctx, set, pods, condemned, start, replicas, rev, updated, parallel)
	if !apiequality.Semantic.DeepEqual(st, set.Status) {
		s := set.DeepCopy()
		s.Status = st
		if _, uerr := r.client.AppsV1().StatefulSets(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{}); uerr != nil && !apierrors.IsNotFound(uerr) {
			return controller.Result{}, fmt.Errorf("%s: update status: %w", what, uerr)
		}
	}
	if err != nil {
		return controller.Result{}, fmt.Errorf("%s: %w", what, err)
	}
	return controller.Result{}, nil
}

// step creates, deletes or replaces pods: at most one at a time unless
// the policy is Parallel.
func (r *Reconciler) step(ctx context.Context, set *appsv1.StatefulSet, pods map[int]*corev1.Pod, condemned []*corev1.Pod, start, replicas int, rev string, updated func(*corev1.Pod) bool, parallel bool) error {
	var errs []error
	// Create missing ordinals in order; wait for each to be Ready.
	for n := start; n < start+replicas; n++ {
		p, ok := pods[n]
		if !ok {
			if err := r.createPod(ctx, set, n, rev); err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, err)
			}
			if !parallel {
				return errors.Join(errs...)
			}
			continue
		}
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			if p.DeletionTimestamp == nil {
				if err := r.delete(ctx, set, p); err != nil {
					errs = append(errs, err)
				}
			}
			if !parallel {
				return errors.Join(errs...)
			}
			continue
		}
		if !parallel && !controller.PodReady(p) {
			return nil // wait for it
		}
	}
	// Scale down from the highest ordinal.
	sortDesc := func(ps []*corev1.Pod) {
		for i := 1; i < len(ps); i++ {
			for j := i; j > 0 && ordinal(set.Name, ps[j]) > ordinal(set.Name, ps[j-1]); j-- {
				ps[j], ps[j-1] = ps[j-1], ps[j]
			}
		}
	}
	sortDesc(condemned)
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if !parallel {
				return nil
			}
			continue
		}
		if err := r.delete(ctx, set, p); err != nil {
			errs = append(errs, err)
		}
		if !parallel {
			return errors.Join(errs...)
		}
	}
	if len(errs) > 0 || set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return errors.Join(errs...)
	}
	// Rolling update from the highest ordinal down to the partition, one
	// at a time while every pod is Ready.
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for n := start + replicas - 1; n >= start+partition; n-- {
		p := pods[n]
		if p == nil || !controller.PodReady(p) {
			return nil
		}
		if !updated(p) {
			return r.delete(ctx, set, p)
		}
	}
	return nil
}

// delete deletes the set's pod p, recording the outcome on set.
func (r *Reconciler) delete(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	err := r.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	switch {
	case err == nil:
		r.podEvent(set, "delete", p.Name, nil)
	case !apierrors.IsNotFound(err) && !apierrors.IsConflict(err):
		r.podEvent(set, "delete", p.Name, err)
		return fmt.Errorf("delete pod %q: %w", p.Name, err)
	}
	return nil
}

// podEvent records the outcome of a create or delete of one of set's pods
// on set, worded as Kubernetes' StatefulSet controller words it.
func (r *Reconciler) podEvent(set *appsv1.StatefulSet, verb, pod string, err error) {
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if err == nil {
		r.rec.Eventf(set, corev1.EventTypeNormal, "Successful"+title, "%s Pod %s in StatefulSet %s successful", verb, pod, set.Name)
		return
	}
	r.rec.Eventf(set, corev1.EventTypeWarning, "Failed"+title, "%s Pod %s in StatefulSet %s failed error: %v", verb, pod, set.Name, err)
}

func (r *Reconciler) createPod(ctx context.Context, set *appsv1.StatefulSet, n int, rev string) error {
	t := set.Spec.Template.DeepCopy()
	name := fmt.Sprintf("%s-%d", set.Name, n)
	lbls := map[string]string{HashLabel: rev, PodNameLabel: name, OrdinalLabel: strconv.Itoa(n)}
	for k, v := range t.Labels {
		lbls[k] = v
	}
	spec := t.Spec
	spec.Hostname = name
	spec.Subdomain = set.Spec.ServiceName
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: set.Namespace, Labels: lbls, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, gvk)},
		},
		Spec: spec,
	}
	if _, err := r.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			r.podEvent(set, "create", name, err)
		}
		return fmt.Errorf("create pod %q: %w", name, err)
	}
	r.podEvent(set, "create", name, nil)
	return nil
}
