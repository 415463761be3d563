package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/controller"
)

// Name is the controller's name in --controllers.
const Name = "deployment"

// Annotations and labels the controller maintains.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	ChangeCauseAnnotation     = "kubernetes.io/change-cause"
	HashLabel                 = appsv1.DefaultDeploymentUniqueLabelKey // pod-template-hash
)

// Condition reasons, as Kubernetes and kubectl use them.
const (
	ReasonNewRSCreated     = "NewReplicaSetCreated"
	ReasonFoundNewRS       = "FoundNewReplicaSet"
	ReasonRSUpdated        = "ReplicaSetUpdated"
	ReasonNewRSAvailable   = "NewReplicaSetAvailable"
	ReasonDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonPaused           = "DeploymentPaused"
	ReasonResumed          = "DeploymentResumed"
	ReasonMinAvailable     = "MinimumReplicasAvailable"
	ReasonMinUnavailable   = "MinimumReplicasUnavailable"
)

var gvk = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Options configure the controller. Client, Deployments and ReplicaSets
// are required.
type Options struct {
	Client      kubernetes.Interface
	Deployments appsinformers.DeploymentInformer
	ReplicaSets appsinformers.ReplicaSetInformer
	// Clock times progress deadlines; nil means the real clock.
	Clock clock.WithTicker
	// Workers defaults to 5.
	Workers int
	Metrics *controller.Metrics
	// Recorder receives the Deployment's ScalingReplicaSet events; nil
	// means none (Manager.EventRecorder sends them to the API server).
	Recorder record.EventRecorder
}

// Reconciler is the Deployment reconcile logic.
type Reconciler struct {
	client kubernetes.Interface
	ds     appslisters.DeploymentLister
	rss    appslisters.ReplicaSetLister
	rsInf  cache.SharedIndexInformer
	clock  clock.WithTicker
	rec    record.EventRecorder
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the Deployment controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.Deployments == nil || opts.ReplicaSets == nil {
		return nil, errors.New("deployment: Options.Client, Deployments and ReplicaSets are required")
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
	r := &Reconciler{client: opts.Client, ds: opts.Deployments.Lister(), rss: opts.ReplicaSets.Lister(), rsInf: opts.ReplicaSets.Informer(),
		clock: opts.Clock, rec: opts.Recorder}
	if err := controller.AddControllerUIDIndex(r.rsInf); err != nil {
		return nil, fmt.Errorf("deployment: %w", err)
	}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: r, Workers: opts.Workers, Clock: opts.Clock, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.Deployments.Informer(), controller.ForObject()); err != nil {
		return nil, err
	}
	owner := controller.ForControllerOwner(gvk.GroupKind())
	if err := c.Watch(opts.ReplicaSets.Informer(), controller.MapFunc(func(obj any) []controller.Request {
		if reqs := owner.Map(obj); len(reqs) > 0 {
			return reqs
		}
		rs, ok := obj.(*appsv1.ReplicaSet)
		if !ok || metav1.GetControllerOf(rs) != nil {
			return nil
		}
		// An orphan: the Deployments that would adopt it.
		ds, _ := r.ds.Deployments(rs.Namespace).List(labels.Everything())
		var out []controller.Request
		for _, d := range ds {
			if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
				out = append(out, controller.Request{NamespacedName: types.NamespacedName{Namespace: d.Namespace, Name: d.Name}})
			}
		}
		return out
	})); err != nil {
		return nil, err
	}
	return c, nil
}

// Register adds the controller to m.
func Register(m *controller.Manager) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		return New(Options{Client: m.Client(), Deployments: f.Apps().V1().Deployments(), ReplicaSets: f.Apps().V1().ReplicaSets(), Clock: m.Clock(), Metrics: m.Metrics(),
			Recorder: m.EventRecorder("deployment-controller")})
	}})
}

// Reconcile rolls the Deployment req names one step towards its template.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	d, err := r.ds.Deployments(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	d = d.DeepCopy()
	res, err := r.sync(ctx, d)
	if err != nil {
		return controller.Result{}, fmt.Errorf("deployment %q: %w", req.String(), err)
	}
	return res, nil
}

func (r *Reconciler) sync(ctx context.Context, d *appsv1.Deployment) (controller.Result, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return controller.Result{}, nil
	}
	rsList, err := r.claim(ctx, d, sel)
	if err != nil {
		return controller.Result{}, err
	}
	if d.DeletionTimestamp != nil {
		return r.syncStatus(ctx, d, findNew(d, rsList), rsList)
	}
	if d.Spec.Paused {
		return r.syncPaused(ctx, d, rsList)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return r.recreate(ctx, d, rsList)
	}
	return r.rolling(ctx, d, rsList)
}

// claim adopts orphan ReplicaSets matching the selector, releases owned
// ones that stopped matching, and returns the owned ones.
func (r *Reconciler) claim(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	objs, err := controller.ByControllerUID(r.rsInf, string(d.UID), d.Namespace)
	if err != nil {
		return nil, err
	}
	all := make([]*appsv1.ReplicaSet, 0, len(objs))
	for _, o := range objs {
		if rs, ok := o.(*appsv1.ReplicaSet); ok && rs.Namespace == d.Namespace {
			all = append(all, rs)
		}
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		ref := metav1.GetControllerOf(rs)
		match := sel.Matches(labels.Set(rs.Labels))
		switch {
		case ref != nil && ref.UID == d.UID:
			if !match {
				refs := slices.DeleteFunc(slices.Clone(rs.OwnerReferences), func(o metav1.OwnerReference) bool { return o.UID == d.UID })
				if err := r.setOwners(ctx, rs, refs); err != nil {
					return nil, fmt.Errorf("release replicaset %q: %w", rs.Name, err)
				}
				continue
			}
			out = append(out, rs.DeepCopy())
		case ref == nil && match && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			refs := append(slices.Clone(rs.OwnerReferences), *metav1.NewControllerRef(d, gvk))
			if err := r.setOwners(ctx, rs, refs); err != nil {
				return nil, fmt.Errorf("adopt replicaset %q: %w", rs.Name, err)
			}
			rs = rs.DeepCopy()
			rs.OwnerReferences = refs
			out = append(out, rs)
		}
	}
	return out, nil
}

func (r *Reconciler) setOwners(ctx context.Context, rs *appsv1.ReplicaSet, refs []metav1.OwnerReference) error {
	if refs == nil {
		refs = []metav1.OwnerReference{}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "resourceVersion": rs.ResourceVersion, "uid": rs.UID,
	}})
	if err != nil {
		return err
	}
	_, err = r.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// templateEqual compares pod templates ignoring the pod-template-hash label.
func templateEqual(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, HashLabel)
	delete(b.Labels, HashLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// findNew returns the ReplicaSet whose template equals d's (the oldest if
// several do), or nil.
func findNew(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var found *appsv1.ReplicaSet
	for _, rs := range rsList {
		if templateEqual(&rs.Spec.Template, &d.Spec.Template) {
			if found == nil || rs.CreationTimestamp.Before(&found.CreationTimestamp) {
				found = rs
			}
		}
	}
	return found
}

func olds(rsList []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if newRS == nil || rs.UID != newRS.UID {
			out = append(out, rs)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp) })
	return out
}

// Revision returns the revision annotation of obj (0 if none).
func Revision(obj metav1.Object) int64 {
	v, _ := strconv.ParseInt(obj.GetAnnotations()[RevisionAnnotation], 10, 64)
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs))
	}
	return m
}

// Hash is the pod-template-hash of a template with a collision count.
func Hash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(t)
	_, _ = h.Write(b)
	if collisionCount != nil {
		_, _ = fmt.Fprintf(h, "/%d", *collisionCount)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func surgeAndUnavailable(d *appsv1.Deployment) (surge, unavail int32) {
	replicas := int(ptr.Deref(d.Spec.Replicas, 1))
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
		if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			return 0, 0
		}
	}
	ms, mu := intstr.FromString("25%"), intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			ms = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			mu = *ru.MaxUnavailable
		}
	}
	s, _ := intstr.GetScaledValueFromIntOrPercent(&ms, replicas, true)
	u, _ := intstr.GetScaledValueFromIntOrPercent(&mu, replicas, false)
	if s == 0 && u == 0 {
		u = 1 // validation forbids both zero; be safe
	}
	return int32(s), int32(u)
}

// podCount bounds the pods an RS may have right now from above: its spec,
// or more while its controller has not yet deleted the excess.
func podCount(rs *appsv1.ReplicaSet) int32 {
	return max(ptr.Deref(rs.Spec.Replicas, 0), rs.Status.Replicas)
}

// available bounds the available pods of an RS from below: never more than
// its spec (extra pods are about to be deleted, possibly available ones).
func available(rs *appsv1.ReplicaSet) int32 {
	return min(rs.Status.AvailableReplicas, ptr.Deref(rs.Spec.Replicas, 0))
}

// getNew finds or (create) creates the new ReplicaSet with the next
// revision; replicas is its size when created.
func (r *Reconciler) getNew(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool, replicas func() int32) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNew(d, rsList)
	old := olds(rsList, existing)
	rev := maxRevision(old) + 1
	revStr := strconv.FormatInt(rev, 10)
	surge, _ := surgeAndUnavailable(d)
	if existing != nil {
		if Revision(existing) < rev || existing.Annotations[ChangeCauseAnnotation] != d.Annotations[ChangeCauseAnnotation] && d.Annotations[ChangeCauseAnnotation] != "" {
			rs := existing.DeepCopy()
			if rs.Annotations == nil {
				rs.Annotations = map[string]string{}
			}
			if Revision(rs) < rev {
				rs.Annotations[RevisionAnnotation] = revStr
			}
			if cc := d.Annotations[ChangeCauseAnnotation]; cc != "" {
				rs.Annotations[ChangeCauseAnnotation] = cc
			}
			updated, err := r.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, nil, fmt.Errorf("set revision of replicaset %q: %w", rs.Name, err)
			}
			existing = updated
			rsList = replace(rsList, updated)
		}
		if err := r.setDeploymentRevision(ctx, d, existing.Annotations[RevisionAnnotation]); err != nil {
			return nil, nil, err
		}
		return existing, rsList, nil
	}
	if !create {
		return nil, rsList, nil
	}
	hash := Hash(&d.Spec.Template, d.Status.CollisionCount)
	t := d.Spec.Template.DeepCopy()
	t.Labels = withLabel(t.Labels, hash)
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels = withLabel(sel.MatchLabels, hash)
	ann := map[string]string{
		RevisionAnnotation:        revStr,
		DesiredReplicasAnnotation: strconv.Itoa(int(ptr.Deref(d.Spec.Replicas, 1))),
		MaxReplicasAnnotation:     strconv.Itoa(int(ptr.Deref(d.Spec.Replicas, 1) + surge)),
	}
	if cc := d.Annotations[ChangeCauseAnnotation]; cc != "" {
		ann[ChangeCauseAnnotation] = cc
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: t.Labels, Annotations: ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, gvk)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas()), MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *t},
	}
	created, err := r.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, gerr := r.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, nil, gerr
		}
		if ref := metav1.GetControllerOf(got); ref != nil && ref.UID == d.UID && templateEqual(&got.Spec.Template, &d.Spec.Template) {
			return got, append(rsList, got), nil
		}
		// A hash collision: bump collisionCount so the next name differs.
		d.Status.CollisionCount = ptr.To(ptr.Deref(d.Status.CollisionCount, 0) + 1)
		if _, uerr := r.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); uerr != nil {
			return nil, nil, uerr
		}
		return nil, nil, fmt.Errorf("replicaset %q: hash collision", rs.Name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create replicaset %q: %w", rs.Name, err)
	}
	if n := ptr.Deref(created.Spec.Replicas, 0); n > 0 {
		r.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	if err := r.setDeploymentRevision(ctx, d, revStr); err != nil {
		return nil, nil, err
	}
	setCondition(&d.Status, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSCreated,
		fmt.Sprintf("Created new replica set %q", created.Name), r.clock.Now())
	return created, append(rsList, created), nil
}

func withLabel(m map[string]string, hash string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out[HashLabel] = hash
	return out
}

func replace(list []*appsv1.ReplicaSet, rs *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := slices.Clone(list)
	for i := range out {
		if out[i].UID == rs.UID {
			out[i] = rs
		}
	}
	return out
}

func (r *Reconciler) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, rev string) error {
	if d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RevisionAnnotation: rev}}})
	updated, err := r.client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("set revision: %w", err)
	}
	d.Annotations = updated.Annotations
	d.ResourceVersion = updated.ResourceVersion
	return nil
}

// scale sets rs.spec.replicas to n (and the desired/max annotations).
func (r *Reconciler) scale(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (*appsv1.ReplicaSet, error) {
	surge, _ := surgeAndUnavailable(d)
	desired := strconv.Itoa(int(ptr.Deref(d.Spec.Replicas, 1)))
	maxR := strconv.Itoa(int(ptr.Deref(d.Spec.Replicas, 1) + surge))
	if ptr.Deref(rs.Spec.Replicas, 0) == n && rs.Annotations[DesiredReplicasAnnotation] == desired && rs.Annotations[MaxReplicasAnnotation] == maxR {
		return rs, nil
	}
	from := ptr.Deref(rs.Spec.Replicas, 0)
	rs = rs.DeepCopy()
	rs.Spec.Replicas = ptr.To(n)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[DesiredReplicasAnnotation] = desired
	rs.Annotations[MaxReplicasAnnotation] = maxR
	updated, err := r.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("scale replicaset %q to %d: %w", rs.Name, n, err)
	}
	switch {
	case n > from:
		r.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from %d to %d", rs.Name, from, n)
	case n < from:
		r.rec.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled down replica set %s from %d to %d", rs.Name, from, n)
	}
	return updated, nil
}

// rolling performs one step of a RollingUpdate.
func (r *Reconciler) rolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (controller.Result, error) {
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	surge, unavail := surgeAndUnavailable(d)
	total := func(list []*appsv1.ReplicaSet) (n int32) {
		for _, rs := range list {
			n += podCount(rs)
		}
		return n
	}
	newRS, rsList, err := r.getNew(ctx, d, rsList, true, func() int32 {
		return max(0, min(replicas, replicas+surge-total(rsList)))
	})
	if err != nil {
		return controller.Result{}, err
	}
	old := olds(rsList, newRS)

	// Scale up the new ReplicaSet within the surge.
	if cur := ptr.Deref(newRS.Spec.Replicas, 0); cur != replicas {
		want := cur
		if cur > replicas {
			want = replicas
		} else if t := total(rsList); t < replicas+surge {
			want = cur + min(replicas+surge-t, replicas-cur)
		}
		if want != cur {
			if newRS, err = r.scale(ctx, d, newRS, want); err != nil {
				return controller.Result{}, err
			}
			rsList = replace(rsList, newRS)
			return r.syncStatus(ctx, d, newRS, rsList)
		}
	}

	// Scale down old ReplicaSets within maxUnavailable.
	var oldPods int32
	for _, rs := range old {
		oldPods += podCount(rs)
	}
	if oldPods > 0 {
		minAvailable := replicas - unavail
		all := total(rsList)
		newUnavailable := ptr.Deref(newRS.Spec.Replicas, 0) - available(newRS)
		maxScaledDown := all - minAvailable - newUnavailable
		scaled := false
		if maxScaledDown > 0 {
			// First the unhealthy replicas of old ReplicaSets: they count
			// for nothing available.
			var done int32
			for i, rs := range old {
				if done >= maxScaledDown {
					break
				}
				spec := ptr.Deref(rs.Spec.Replicas, 0)
				unhealthy := spec - available(rs)
				if spec == 0 || unhealthy <= 0 {
					continue
				}
				n := min(maxScaledDown-done, unhealthy)
				if old[i], err = r.scale(ctx, d, rs, spec-n); err != nil {
					return controller.Result{}, err
				}
				done += n
				scaled = true
			}
			// Then available ones while enough stay available.
			var avail int32
			for _, rs := range append(slices.Clone(old), newRS) {
				avail += available(rs)
			}
			if avail > minAvailable {
				budget := avail - minAvailable
				var down int32
				for i, rs := range old {
					if down >= budget {
						break
					}
					spec := ptr.Deref(rs.Spec.Replicas, 0)
					if spec == 0 {
						continue
					}
					n := min(spec, budget-down)
					if old[i], err = r.scale(ctx, d, rs, spec-n); err != nil {
						return controller.Result{}, err
					}
					down += n
					scaled = true
				}
			}
		}
		for _, rs := range old {
			rsList = replace(rsList, rs)
		}
		if scaled {
			return r.syncStatus(ctx, d, newRS, rsList)
		}
	}
	if complete(d, newRS, rsList) {
		if err := r.cleanup(ctx, d, olds(rsList, newRS)); err != nil {
			return controller.Result{}, err
		}
	}
	return r.syncStatus(ctx, d, newRS, rsList)
}

// recreate performs one step of a Recreate rollout.
func (r *Reconciler) recreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (controller.Result, error) {
	newRS, rsList, err := r.getNew(ctx, d, rsList, false, nil)
	if err != nil {
		return controller.Result{}, err
	}
	old := olds(rsList, newRS)
	scaledDown := false
	for _, rs := range old {
		if ptr.Deref(rs.Spec.Replicas, 0) != 0 {
			up, err := r.scale(ctx, d, rs, 0)
			if err != nil {
				return controller.Result{}, err
			}
			rsList = replace(rsList, up)
			scaledDown = true
		}
	}
	if scaledDown {
		return r.syncStatus(ctx, d, newRS, rsList)
	}
	for _, rs := range old {
		if rs.Status.Replicas > 0 || rs.Status.ObservedGeneration < rs.Generation {
			return r.syncStatus(ctx, d, newRS, rsList) // old pods still running
		}
	}
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	if newRS == nil {
		if newRS, rsList, err = r.getNew(ctx, d, rsList, true, func() int32 { return replicas }); err != nil {
			return controller.Result{}, err
		}
	}
	if ptr.Deref(newRS.Spec.Replicas, 0) != replicas {
		if newRS, err = r.scale(ctx, d, newRS, replicas); err != nil {
			return controller.Result{}, err
		}
		rsList = replace(rsList, newRS)
	}
	if complete(d, newRS, rsList) {
		if err := r.cleanup(ctx, d, olds(rsList, newRS)); err != nil {
			return controller.Result{}, err
		}
	}
	return r.syncStatus(ctx, d, newRS, rsList)
}

// syncPaused scales without rolling out: the new ReplicaSet (or, without
// one, the newest active) absorbs a change of replicas.
func (r *Reconciler) syncPaused(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (controller.Result, error) {
	newRS, rsList, err := r.getNew(ctx, d, rsList, false, nil)
	if err != nil {
		return controller.Result{}, err
	}
	target := newRS
	var others int32
	for _, rs := range olds(rsList, newRS) {
		if ptr.Deref(rs.Spec.Replicas, 0) > 0 && target == nil {
			target = rs
			continue
		}
		if target == nil || rs.UID != target.UID {
			others += ptr.Deref(rs.Spec.Replicas, 0)
		}
	}
	if target != nil && others == 0 {
		up, err := r.scale(ctx, d, target, ptr.Deref(d.Spec.Replicas, 1))
		if err != nil {
			return controller.Result{}, err
		}
		rsList = replace(rsList, up)
		if newRS != nil && newRS.UID == up.UID {
			newRS = up
		}
	}
	if err := r.cleanup(ctx, d, olds(rsList, newRS)); err != nil {
		return controller.Result{}, err
	}
	return r.syncStatus(ctx, d, newRS, rsList)
}

// cleanup deletes old, empty ReplicaSets beyond revisionHistoryLimit,
// lowest revisions first.
func (r *Reconciler) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	limit := int(ptr.Deref(d.Spec.RevisionHistoryLimit, 10))
	var empty []*appsv1.ReplicaSet
	for _, rs := range old {
		if ptr.Deref(rs.Spec.Replicas, 0) == 0 && rs.Status.Replicas == 0 && rs.DeletionTimestamp == nil && rs.Status.ObservedGeneration >= rs.Generation {
			empty = append(empty, rs)
		}
	}
	if len(old) <= limit || len(empty) == 0 {
		return nil
	}
	sort.SliceStable(empty, func(i, j int) bool { return Revision(empty[i]) < Revision(empty[j]) })
	for _, rs := range empty[:min(len(empty), len(old)-limit)] {
		err := r.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &rs.UID, ResourceVersion: &rs.ResourceVersion},
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %q: %w", rs.Name, err)
		}
	}
	return nil
}

// complete reports whether the rollout is done: every replica updated and
// available, no old pods left.
func complete(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, rsList []*appsv1.ReplicaSet) bool {
	if newRS == nil {
		return false
	}
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	var total int32
	for _, rs := range rsList {
		total += rs.Status.Replicas
	}
	return newRS.Status.Replicas == replicas && newRS.Status.AvailableReplicas >= replicas && total == replicas &&
		ptr.Deref(newRS.Spec.Replicas, 0) == replicas && newRS.Status.ObservedGeneration >= newRS.Generation
}

func setCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string, now time.Time) {
	nt := metav1.NewTime(now)
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == s && c.Reason == reason && c.Message == msg {
			return
		}
		if c.Status != s {
			c.LastTransitionTime = nt
		}
		c.Status, c.Reason, c.Message, c.LastUpdateTime = s, reason, msg, nt
		return
	}
	st.Conditions = append(st.Conditions, appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: nt, LastTransitionTime: nt})
}

func getCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// syncStatus computes and writes the status and the conditions; it
// requeues at the progress deadline while a rollout is under way.
func (r *Reconciler) syncStatus(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, rsList []*appsv1.ReplicaSet) (controller.Result, error) {
	now := r.clock.Now()
	replicas := ptr.Deref(d.Spec.Replicas, 1)
	_, unavail := surgeAndUnavailable(d)
	st := *d.Status.DeepCopy()
	st.ObservedGeneration = d.Generation
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.UpdatedReplicas = 0, 0, 0, 0
	for _, rs := range rsList {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(0, st.Replicas-st.AvailableReplicas, replicas-st.AvailableReplicas)
	if st.AvailableReplicas >= replicas-unavail {
		setCondition(&st, appsv1.DeploymentAvailable, corev1.ConditionTrue, ReasonMinAvailable, "Deployment has minimum availability.", now)
	} else {
		setCondition(&st, appsv1.DeploymentAvailable, corev1.ConditionFalse, ReasonMinUnavailable, "Deployment does not have minimum availability.", now)
	}

	var requeue time.Duration
	prog := getCondition(&st, appsv1.DeploymentProgressing)
	deadline := d.Spec.ProgressDeadlineSeconds
	switch {
	case d.Spec.Paused:
		if prog == nil || prog.Reason != ReasonPaused {
			setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", now)
		}
	case prog != nil && prog.Reason == ReasonPaused:
		setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", now)
		requeue = time.Second
	case newRS != nil && complete(d, newRS, rsList):
		setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSAvailable,
			fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name), now)
	case newRS != nil && (progressed(&d.Status, &st) || prog == nil || prog.Reason == ReasonResumed):
		msg := fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
		if prog != nil && prog.Reason == ReasonNewRSCreated && !progressed(&d.Status, &st) {
			break
		}
		// Progress: refresh lastUpdateTime even if the reason is unchanged.
		setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonRSUpdated, msg, now)
		if c := getCondition(&st, appsv1.DeploymentProgressing); c != nil {
			c.LastUpdateTime = metav1.NewTime(now)
		}
	}
	if prog = getCondition(&st, appsv1.DeploymentProgressing); prog != nil && deadline != nil && !d.Spec.Paused &&
		prog.Status == corev1.ConditionTrue && prog.Reason != ReasonNewRSAvailable && newRS != nil {
		end := prog.LastUpdateTime.Add(time.Duration(*deadline) * time.Second)
		if !now.Before(end) {
			setCondition(&st, appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonDeadlineExceeded,
				fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name), now)
		} else if d := end.Sub(now); requeue == 0 || d < requeue {
			requeue = d
		}
	}
	if apiequality.Semantic.DeepEqual(st, d.Status) {
		return controller.Result{RequeueAfter: requeue}, nil
	}
	d.Status = st
	if _, err := r.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return controller.Result{}, nil
		}
		return controller.Result{}, fmt.Errorf("update status: %w", err)
	}
	return controller.Result{RequeueAfter: requeue}, nil
}

// progressed reports whether the rollout moved forward between two
// statuses (kube's DeploymentProgressing).
func progressed(old, cur *appsv1.DeploymentStatus) bool {
	oldOld := old.Replicas - old.UpdatedReplicas
	curOld := cur.Replicas - cur.UpdatedReplicas
	return cur.UpdatedReplicas > old.UpdatedReplicas || curOld < oldOld ||
		cur.ReadyReplicas > old.ReadyReplicas || cur.AvailableReplicas > old.AvailableReplicas
}
