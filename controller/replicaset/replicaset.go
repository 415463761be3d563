package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/controller"
)

// Names under which the controllers register with a Manager.
const (
	Name                      = "replicaset"
	ReplicationControllerName = "replicationcontroller"
)

// DefaultBurstReplicas bounds the creations or deletions of one reconcile
// (kube-controller-manager's --concurrent-... burst of 500).
const DefaultBurstReplicas = 500

// Options configure a ReplicaSet or ReplicationController controller.
// Client and Pods are required, plus ReplicaSets (NewReplicaSet) or
// ReplicationControllers (NewReplicationController).
type Options struct {
	Client                 kubernetes.Interface
	Pods                   coreinformers.PodInformer
	ReplicaSets            appsinformers.ReplicaSetInformer
	ReplicationControllers coreinformers.ReplicationControllerInformer
	// Clock times availability (minReadySeconds) and expectations; nil
	// means the real clock.
	Clock clock.WithTicker
	// Workers defaults to 5; BurstReplicas to DefaultBurstReplicas.
	Workers       int
	BurstReplicas int
	Metrics       *controller.Metrics
	// Recorder receives the SuccessfulCreate, FailedCreate,
	// SuccessfulDelete and FailedDelete events of the owner; nil means
	// none (Manager.EventRecorder sends them to the API server).
	Recorder record.EventRecorder
}

// kind abstracts over ReplicaSets and ReplicationControllers: both are
// handled as ReplicaSets.
type kind struct {
	gvk          schema.GroupVersionKind
	get          func(ns, name string) (*appsv1.ReplicaSet, error)
	list         func(ns string) ([]*appsv1.ReplicaSet, error)
	updateStatus func(ctx context.Context, rs *appsv1.ReplicaSet) error
}

// Reconciler is the replica controller's reconcile logic; it is exported
// so that tests and assemblies can drive it directly.
type Reconciler struct {
	client kubernetes.Interface
	pods   corelisters.PodLister
	podInf cache.SharedIndexInformer
	kind   kind
	clock  clock.WithTicker
	burst  int
	exp    *controller.Expectations
	rec    record.EventRecorder
}

var _ controller.Reconciler = (*Reconciler)(nil)

var rsGVK = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
var rcGVK = corev1.SchemeGroupVersion.WithKind("ReplicationController")

// NewReplicaSet returns the ReplicaSet controller.
func NewReplicaSet(opts Options) (*controller.Controller, error) {
	if opts.ReplicaSets == nil {
		return nil, errors.New("replicaset: Options.ReplicaSets is required")
	}
	lister := opts.ReplicaSets.Lister()
	k := kind{
		gvk: rsGVK,
		get: func(ns, name string) (*appsv1.ReplicaSet, error) { return lister.ReplicaSets(ns).Get(name) },
		list: func(ns string) ([]*appsv1.ReplicaSet, error) {
			return lister.ReplicaSets(ns).List(labels.Everything())
		},
		updateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) error {
			_, err := opts.Client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
			return err
		},
	}
	return newController(Name, opts, k, opts.ReplicaSets.Informer())
}

// NewReplicationController returns the ReplicationController controller.
func NewReplicationController(opts Options) (*controller.Controller, error) {
	if opts.ReplicationControllers == nil {
		return nil, errors.New("replicationcontroller: Options.ReplicationControllers is required")
	}
	lister := opts.ReplicationControllers.Lister()
	k := kind{
		gvk: rcGVK,
		get: func(ns, name string) (*appsv1.ReplicaSet, error) {
			rc, err := lister.ReplicationControllers(ns).Get(name)
			if err != nil {
				return nil, err
			}
			return fromRC(rc), nil
		},
		list: func(ns string) ([]*appsv1.ReplicaSet, error) {
			rcs, err := lister.ReplicationControllers(ns).List(labels.Everything())
			out := make([]*appsv1.ReplicaSet, 0, len(rcs))
			for _, rc := range rcs {
				out = append(out, fromRC(rc))
			}
			return out, err
		},
		updateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) error {
			rc, err := lister.ReplicationControllers(rs.Namespace).Get(rs.Name)
			if err != nil {
				return err
			}
			rc = rc.DeepCopy()
			rc.Status = corev1.ReplicationControllerStatus{
				Replicas:             rs.Status.Replicas,
				FullyLabeledReplicas: rs.Status.FullyLabeledReplicas,
				ReadyReplicas:        rs.Status.ReadyReplicas,
				AvailableReplicas:    rs.Status.AvailableReplicas,
				ObservedGeneration:   rs.Status.ObservedGeneration,
			}
			_, err = opts.Client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
			return err
		},
	}
	return newController(ReplicationControllerName, opts, k, opts.ReplicationControllers.Informer())
}

// fromRC converts a ReplicationController into the equivalent ReplicaSet.
func fromRC(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: rc.ObjectMeta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	if len(rc.Spec.Selector) == 0 && rc.Spec.Template != nil {
		rs.Spec.Selector.MatchLabels = rc.Spec.Template.Labels
	}
	return rs
}

func newController(name string, opts Options, k kind, owners cache.SharedIndexInformer) (*controller.Controller, error) {
	if opts.Client == nil || opts.Pods == nil {
		return nil, fmt.Errorf("%s: Options.Client and Options.Pods are required", name)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Workers == 0 {
		opts.Workers = 5
	}
	if opts.BurstReplicas == 0 {
		opts.BurstReplicas = DefaultBurstReplicas
	}
	if opts.Recorder == nil {
		opts.Recorder = &record.FakeRecorder{} // no channel: discards
	}
	r := &Reconciler{
		client: opts.Client, pods: opts.Pods.Lister(), podInf: opts.Pods.Informer(), kind: k, clock: opts.Clock,
		burst: opts.BurstReplicas, exp: controller.NewExpectations(opts.Clock), rec: opts.Recorder,
	}
	if err := controller.AddControllerUIDIndex(r.podInf); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c, err := controller.New(controller.Options{
		Name: name, Reconciler: r, Workers: opts.Workers, Clock: opts.Clock, Metrics: opts.Metrics,
	})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(owners, controller.ForObject()); err != nil {
		return nil, err
	}
	reg, err := opts.Pods.Informer().AddEventHandler(r.podHandler(c))
	if err != nil {
		return nil, fmt.Errorf("%s: watch pods: %w", name, err)
	}
	c.WaitFor(reg.HasSynced)
	return c, nil
}

// podHandler maps pod events to owners, lowering expectations as the
// informer sees the pods the controller created or deleted.
func (r *Reconciler) podHandler(c *controller.Controller) cache.ResourceEventHandler {
	owner := func(pod *corev1.Pod) *controller.Request {
		ref := metav1.GetControllerOf(pod)
		if ref == nil || ref.Kind != r.kind.gvk.Kind || ref.APIVersion != r.kind.gvk.GroupVersion().String() {
			return nil
		}
		return &controller.Request{NamespacedName: types.NamespacedName{Namespace: pod.Namespace, Name: ref.Name}}
	}
	orphan := func(pod *corev1.Pod) {
		if metav1.GetControllerOf(pod) != nil {
			return
		}
		rss, _ := r.kind.list(pod.Namespace)
		for _, rs := range rss {
			if sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
				c.Enqueue(controller.Request{NamespacedName: types.NamespacedName{Namespace: rs.Namespace, Name: rs.Name}})
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod := obj.(*corev1.Pod)
			if req := owner(pod); req != nil {
				if pod.DeletionTimestamp == nil {
					r.exp.Observed(req.String(), 1, 0)
				}
				c.Enqueue(*req)
				return
			}
			orphan(pod)
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			if o.ResourceVersion == n.ResourceVersion {
				return
			}
			if req := owner(o); req != nil {
				c.Enqueue(*req)
			}
			if req := owner(n); req != nil {
				c.Enqueue(*req)
			} else {
				orphan(n)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			if req := owner(pod); req != nil {
				r.exp.Observed(req.String(), 0, 1)
				c.Enqueue(*req)
			}
		},
	}
}

// Reconcile brings the pods of the ReplicaSet (or ReplicationController)
// req names to its replicas and updates its status.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	key := req.String()
	rs, err := r.kind.get(req.Namespace, req.Name)
	if apierrors.IsNotFound(err) {
		r.exp.Forget(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	what := fmt.Sprintf("%s %q", r.kind.gvk.Kind, key)
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || sel.Empty() {
		return controller.Result{}, nil // invalid selectors are rejected by validation; never match all
	}
	// Expectations first, pods second: a pod whose creation satisfies the
	// expectations is in the informer's cache before its handler runs, so
	// the list below includes every pod the check counted. The other
	// order could list 5 pods, see the 6th arrive and satisfy, and then
	// create a 7th.
	satisfied := r.exp.Satisfied(key)
	// Only the pods it owns and the orphans of its namespace can be its.
	objs, err := controller.ByControllerUID(r.podInf, string(rs.UID), rs.Namespace)
	if err != nil {
		return controller.Result{}, err
	}
	all := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == rs.Namespace {
			all = append(all, p)
		}
	}
	pods, err := r.claim(ctx, rs, sel, all)
	if err != nil {
		return controller.Result{}, fmt.Errorf("%s: claim pods: %w", what, err)
	}
	var manageErr error
	if satisfied && rs.DeletionTimestamp == nil {
		manageErr = r.manage(ctx, rs, key, pods)
	}
	requeue, err := r.updateStatus(ctx, rs, pods, manageErr)
	if err != nil {
		return controller.Result{}, fmt.Errorf("%s: update status: %w", what, err)
	}
	if manageErr != nil {
		return controller.Result{}, fmt.Errorf("%s: %w", what, manageErr)
	}
	return controller.Result{RequeueAfter: requeue}, nil
}

func (r *Reconciler) ownerRef(rs *appsv1.ReplicaSet) metav1.OwnerReference {
	return *metav1.NewControllerRef(rs, r.kind.gvk)
}

// claim adopts orphans matching sel, releases owned pods that no longer
// match, and returns the active pods rs owns.
func (r *Reconciler) claim(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, all []*corev1.Pod) ([]*corev1.Pod, error) {
	var owned []*corev1.Pod
	for _, pod := range all {
		ref := metav1.GetControllerOf(pod)
		matches := sel.Matches(labels.Set(pod.Labels))
		switch {
		case ref != nil && ref.UID == rs.UID:
			if !matches {
				if err := r.setOwners(ctx, pod, slices.DeleteFunc(slices.Clone(pod.OwnerReferences), func(o metav1.OwnerReference) bool { return o.UID == rs.UID })); err != nil {
					return nil, fmt.Errorf("release pod %q: %w", pod.Name, err)
				}
				continue
			}
		case ref == nil && matches && rs.DeletionTimestamp == nil && pod.DeletionTimestamp == nil:
			refs := append(slices.Clone(pod.OwnerReferences), r.ownerRef(rs))
			if err := r.setOwners(ctx, pod, refs); err != nil {
				return nil, fmt.Errorf("adopt pod %q: %w", pod.Name, err)
			}
		default:
			continue
		}
		if controller.PodActive(pod) {
			owned = append(owned, pod)
		}
	}
	return owned, nil
}

// setOwners replaces the pod's ownerReferences, guarded by its
// resourceVersion so that a concurrent claim by another owner loses.
func (r *Reconciler) setOwners(ctx context.Context, pod *corev1.Pod, refs []metav1.OwnerReference) error {
	if refs == nil {
		refs = []metav1.OwnerReference{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "resourceVersion": pod.ResourceVersion, "uid": pod.UID,
	}})
	if err != nil {
		return err
	}
	_, err = r.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// manage creates or deletes pods so that len(pods) == replicas.
func (r *Reconciler) manage(ctx context.Context, rs *appsv1.ReplicaSet, key string, pods []*corev1.Pod) error {
	want := int(ptr.Deref(rs.Spec.Replicas, 1))
	diff := len(pods) - want
	switch {
	case diff < 0:
		n := min(-diff, r.burst)
		r.exp.Expect(key, n, 0)
		created, err := SlowStartBatch(n, 1, func() error {
			return r.createPod(ctx, rs)
		})
		if skipped := n - created; skipped > 0 {
			r.exp.Observed(key, skipped, 0)
		}
		return err
	case diff > 0:
		n := min(diff, r.burst)
		victims := PodsToDelete(pods, n)
		r.exp.Expect(key, 0, n)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for _, p := range victims {
			wg.Go(func() {
				err := r.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
				if err != nil {
					r.exp.Observed(key, 0, 1)
					if !apierrors.IsNotFound(err) {
						r.rec.Eventf(r.ref(rs), corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
						mu.Lock()
						errs = append(errs, fmt.Errorf("delete pod %q: %w", p.Name, err))
						mu.Unlock()
					}
					return
				}
				r.rec.Eventf(r.ref(rs), corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

func (r *Reconciler) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	t := rs.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{r.ownerRef(rs)},
		},
		Spec: t.Spec,
	}
	created, err := r.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		r.rec.Eventf(r.ref(rs), corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("create pod: %w", err)
	}
	r.rec.Eventf(r.ref(rs), corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

// ref names the owner in events: a ReplicaSet, or the ReplicationController
// rs was converted from.
func (r *Reconciler) ref(rs *appsv1.ReplicaSet) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind: r.kind.gvk.Kind, APIVersion: r.kind.gvk.GroupVersion().String(),
		Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID, ResourceVersion: rs.ResourceVersion,
	}
}

// SlowStartBatch calls fn count times, in batches of initial, 2*initial,
// 4*initial, ... run concurrently; it stops after the first batch with an
// error and returns how many calls succeeded and the first error.
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	done := 0
	for batch := min(count, initial); count-done > 0; batch = min(2*batch, count-done) {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			ok    int
			first error
		)
		for range batch {
			wg.Go(func() {
				err := fn()
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if first == nil {
					first = err
				}
			})
		}
		wg.Wait()
		done += ok
		if first != nil {
			return done, first
		}
	}
	return done, nil
}

// PodsToDelete picks the n pods to delete first: unscheduled before
// scheduled, pending before unknown before running, not ready before
// ready, recently ready before long ready, more restarts first, newer
// before older.
func PodsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	s := slices.Clone(pods)
	phase := map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}
	restarts := func(p *corev1.Pod) (n int32) {
		for _, c := range p.Status.ContainerStatuses {
			n += c.RestartCount
		}
		return n
	}
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if phase[a.Status.Phase] != phase[b.Status.Phase] {
			return phase[a.Status.Phase] < phase[b.Status.Phase]
		}
		if controller.PodReady(a) != controller.PodReady(b) {
			return !controller.PodReady(a)
		}
		if ra, rb := restarts(a), restarts(b); ra != rb {
			return ra > rb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return a.Name > b.Name
	})
	return s[:min(n, len(s))]
}

// updateStatus writes the counted status when it changed; it returns how
// long until a ready pod becomes available (0: nothing pending).
func (r *Reconciler) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) (time.Duration, error) {
	now := r.clock.Now()
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	tmpl := labels.SelectorFromSet(rs.Spec.Template.Labels)
	st := appsv1.ReplicaSetStatus{Replicas: int32(len(pods)), ObservedGeneration: rs.Generation}
	var requeue time.Duration
	for _, p := range pods {
		if tmpl.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if controller.PodReady(p) {
			st.ReadyReplicas++
			if controller.PodAvailable(p, minReady, now) {
				st.AvailableReplicas++
			} else if minReady > 0 {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady {
						if d := c.LastTransitionTime.Add(minReady).Sub(now); d > 0 && (requeue == 0 || d < requeue) {
							requeue = d
						}
					}
				}
			}
		}
	}
	// Keep a ReplicaFailure condition while creations or deletions fail.
	for _, c := range rs.Status.Conditions {
		if c.Type != appsv1.ReplicaSetReplicaFailure {
			st.Conditions = append(st.Conditions, c)
		}
	}
	if manageErr != nil {
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: "FailedCreate", Message: manageErr.Error(),
		})
		if old := findCond(rs.Status.Conditions); old != nil && old.Message == manageErr.Error() {
			st.Conditions[len(st.Conditions)-1] = *old
		}
	}
	if apiequality.Semantic.DeepEqual(st, rs.Status) {
		return requeue, nil
	}
	rs = rs.DeepCopy()
	rs.Status = st
	err := r.kind.updateStatus(ctx, rs)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	return requeue, err
}

func findCond(cs []appsv1.ReplicaSetCondition) *appsv1.ReplicaSetCondition {
	for i := range cs {
		if cs[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &cs[i]
		}
	}
	return nil
}

// Register adds the ReplicaSet and ReplicationController controllers to m.
func Register(m *controller.Manager) error {
	if err := m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return NewReplicaSet(Options{Client: m.Client(), Pods: f.Core().V1().Pods(), ReplicaSets: f.Apps().V1().ReplicaSets(), Clock: m.Clock(), Metrics: m.Metrics(),
			Recorder: m.EventRecorder("replicaset-controller")})
	}}); err != nil {
		return err
	}
	return m.Register(controller.Registration{Name: ReplicationControllerName, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return NewReplicationController(Options{Client: m.Client(), Pods: f.Core().V1().Pods(), ReplicationControllers: f.Core().V1().ReplicationControllers(), Clock: m.Clock(), Metrics: m.Metrics(),
			Recorder: m.EventRecorder("replication-controller")})
	}})
}
