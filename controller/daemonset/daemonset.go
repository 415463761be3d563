package daemonset

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/history"
)

// Name is the controller's name in --controllers.
const Name = "daemonset"

// HashLabel carries the template hash of a DaemonSet's pods.
const HashLabel = appsv1.ControllerRevisionHashLabelKey

var gvk = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Options configure the controller. All but Clock, Workers, Metrics and
// Recorder are required.
type Options struct {
	Client     kubernetes.Interface
	DaemonSets appsinformers.DaemonSetInformer
	Nodes      coreinformers.NodeInformer
	Pods       coreinformers.PodInformer
	// Revisions are the ControllerRevisions in which the controller keeps
	// the DaemonSets' template history (kubectl rollout history/undo).
	Revisions appsinformers.ControllerRevisionInformer
	Clock     clock.WithTicker
	Workers   int
	Metrics   *controller.Metrics
	// Recorder receives the SuccessfulCreate, FailedCreate,
	// SuccessfulDelete and FailedDelete events of the DaemonSet; nil means
	// none (Manager.EventRecorder sends them to the API server).
	Recorder record.EventRecorder
}

// Reconciler is the DaemonSet reconcile logic.
type Reconciler struct {
	client kubernetes.Interface
	dss    appslisters.DaemonSetLister
	nodes  corelisters.NodeLister
	revs   appslisters.ControllerRevisionLister
	podInf cache.SharedIndexInformer
	clock  clock.WithTicker
	exp    *controller.Expectations
	rec    record.EventRecorder
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns the DaemonSet controller.
func New(opts Options) (*controller.Controller, error) {
	if opts.Client == nil || opts.DaemonSets == nil || opts.Nodes == nil || opts.Pods == nil || opts.Revisions == nil {
		return nil, errors.New("daemonset: Options.Client, DaemonSets, Nodes, Pods and Revisions are required")
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
	r := &Reconciler{client: opts.Client, dss: opts.DaemonSets.Lister(), nodes: opts.Nodes.Lister(),
		revs: opts.Revisions.Lister(), podInf: opts.Pods.Informer(), clock: opts.Clock, exp: controller.NewExpectations(opts.Clock), rec: opts.Recorder}
	if err := controller.AddControllerUIDIndex(r.podInf); err != nil {
		return nil, fmt.Errorf("daemonset: %w", err)
	}
	c, err := controller.New(controller.Options{Name: Name, Reconciler: r, Workers: opts.Workers, Clock: opts.Clock, Metrics: opts.Metrics})
	if err != nil {
		return nil, err
	}
	if err := c.Watch(opts.DaemonSets.Informer(), controller.ForObject()); err != nil {
		return nil, err
	}
	all := controller.MapFunc(func(any) []controller.Request {
		dss, _ := r.dss.List(labels.Everything())
		out := make([]controller.Request, 0, len(dss))
		for _, ds := range dss {
			out = append(out, controller.Request{NamespacedName: types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}})
		}
		return out
	})
	if err := c.Watch(opts.Nodes.Informer(), all); err != nil {
		return nil, err
	}
	owner := controller.ForControllerOwner(gvk.GroupKind())
	if err := c.Watch(opts.Revisions.Informer(), owner); err != nil {
		return nil, err
	}
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
		return New(Options{Client: m.Client(), DaemonSets: f.Apps().V1().DaemonSets(), Nodes: f.Core().V1().Nodes(),
			Pods: f.Core().V1().Pods(), Revisions: f.Apps().V1().ControllerRevisions(), Clock: m.Clock(), Metrics: m.Metrics(), Recorder: m.EventRecorder("daemonset-controller")})
	}})
}

// Hash is the controller-revision-hash of a template.
func Hash(t *corev1.PodTemplateSpec) string { return history.Hash(t) }

// daemonTolerations are added to every DaemonSet pod, as Kubernetes does:
// daemons stay on nodes that are not ready, unreachable or under pressure.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

func tolerates(tols []corev1.Toleration, t corev1.Taint) bool {
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		if tol.Key != "" && tol.Key != t.Key {
			continue
		}
		if tol.Operator == corev1.TolerationOpExists || tol.Value == t.Value {
			return true
		}
	}
	return false
}

// eligible reports whether ds should run a pod on n (run) and whether a
// pod already there may keep running (keep). As in Kubernetes, a NoSchedule
// taint the daemon does not tolerate only keeps new pods off the node; a
// NoExecute one evicts the running pod too.
func eligible(ds *appsv1.DaemonSet, n *corev1.Node) (run, keep bool) {
	if !labels.SelectorFromSet(ds.Spec.Template.Spec.NodeSelector).Matches(labels.Set(n.Labels)) {
		return false, false
	}
	tols := append(append([]corev1.Toleration{}, ds.Spec.Template.Spec.Tolerations...), daemonTolerations...)
	run, keep = true, true
	for _, t := range n.Spec.Taints {
		if tolerates(tols, t) {
			continue
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule:
			run = false
		case corev1.TaintEffectNoExecute:
			run, keep = false, false
		}
	}
	return run, keep
}

// nodeOf is the node a daemon pod is for: its nodeName, or the node its
// affinity pins it to.
func nodeOf(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range t.MatchFields {
				if f.Key == metav1.ObjectNameField && len(f.Values) == 1 {
					return f.Values[0]
				}
			}
		}
	}
	return ""
}

// Reconcile brings the DaemonSet req names to one pod per eligible node.
func (r *Reconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	key := req.String()
	ds, err := r.dss.DaemonSets(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		r.exp.Forget(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	what := fmt.Sprintf("daemonset %q", key)
	// Expectations before the pods are listed (see the replicaset
	// controller): a creation that satisfies them is already in the list.
	satisfied := r.exp.Satisfied(key)
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return controller.Result{}, err
	}
	objs, err := r.podInf.GetIndexer().ByIndex(controller.ControllerUIDIndex, string(ds.UID))
	if err != nil {
		return controller.Result{}, err
	}
	byNode := map[string][]*corev1.Pod{}
	inUse := map[string]bool{}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if controller.PodActive(p) {
			byNode[nodeOf(p)] = append(byNode[nodeOf(p)], p)
		}
		if p.DeletionTimestamp == nil {
			inUse[p.Labels[HashLabel]] = true
		}
	}
	hash := Hash(&ds.Spec.Template)
	if ds.DeletionTimestamp == nil {
		if err := r.syncRevisions(ctx, ds, hash, inUse); err != nil {
			return controller.Result{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	now := r.clock.Now()
	minReady := time.Duration(ds.Spec.MinReadySeconds) * time.Second
	var create []string
	var del []*corev1.Pod
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	eligibleNodes := map[string]bool{} // nodes that should run a pod
	keepNodes := map[string]bool{}     // nodes whose pods may stay
	for _, n := range nodes {
		if n.DeletionTimestamp != nil {
			continue
		}
		run, keep := eligible(ds, n)
		eligibleNodes[n.Name] = run
		keepNodes[n.Name] = keep
	}
	var old []*corev1.Pod
	unavailable := 0
	for _, n := range nodes {
		pods := byNode[n.Name]
		if !eligibleNodes[n.Name] {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			if !keepNodes[n.Name] {
				del = append(del, pods...)
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			create = append(create, n.Name)
			unavailable++
			continue
		}
		st.CurrentNumberScheduled++
		del = append(del, pods[1:]...)
		p := pods[0]
		if p.Labels[HashLabel] == hash {
			st.UpdatedNumberScheduled++
		} else {
			old = append(old, p)
		}
		if controller.PodReady(p) {
			st.NumberReady++
		}
		if controller.PodAvailable(p, minReady, now) {
			st.NumberAvailable++
		} else {
			unavailable++
		}
	}
	for name, pods := range byNode {
		if _, ok := eligibleNodes[name]; !ok {
			if n, _ := r.nodes.Get(name); n == nil {
				del = append(del, pods...) // node gone
			}
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		maxU := intstr.FromInt32(1)
		if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
			maxU = *ru.MaxUnavailable
		}
		mu, _ := intstr.GetScaledValueFromIntOrPercent(&maxU, int(st.DesiredNumberScheduled), true)
		mu = max(mu, 1)
		// Unavailable old pods go first: they cost nothing.
		for _, p := range old {
			if !controller.PodAvailable(p, minReady, now) {
				del = append(del, p)
			}
		}
		for _, p := range old {
			if controller.PodAvailable(p, minReady, now) && unavailable < mu {
				del = append(del, p)
				unavailable++
			}
		}
	}
	var manageErr []error
	if satisfied {
		r.exp.Expect(key, len(create), len(del))
		for _, n := range create {
			if err := r.createPod(ctx, ds, n, hash); err != nil {
				r.exp.Observed(key, 1, 0)
				manageErr = append(manageErr, err)
			}
		}
		for _, p := range del {
			if err := r.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				r.exp.Observed(key, 0, 1)
				if !apierrors.IsNotFound(err) {
					r.rec.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
					manageErr = append(manageErr, fmt.Errorf("delete pod %q: %w", p.Name, err))
				}
				continue
			}
			r.rec.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
		}
	}
	if !apiequality.Semantic.DeepEqual(st, ds.Status) {
		ds = ds.DeepCopy()
		ds.Status = st
		if _, err := r.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return controller.Result{}, fmt.Errorf("%s: update status: %w", what, err)
		}
	}
	if err := errors.Join(manageErr...); err != nil {
		return controller.Result{}, fmt.Errorf("%s: %w", what, err)
	}
	return controller.Result{}, nil
}

func (r *Reconciler) createPod(ctx context.Context, ds *appsv1.DaemonSet, node, hash string) error {
	t := ds.Spec.Template.DeepCopy()
	lbls := map[string]string{HashLabel: hash}
	for k, v := range t.Labels {
		lbls[k] = v
	}
	spec := t.Spec
	spec.Tolerations = append(spec.Tolerations, daemonTolerations...)
	spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}}},
	}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: ds.Name + "-", Namespace: ds.Namespace, Labels: lbls, Annotations: t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, gvk)},
		},
		Spec: spec,
	}
	created, err := r.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		r.rec.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("create pod for node %q: %w", node, err)
	}
	r.rec.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}
