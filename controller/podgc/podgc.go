package podgc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/controller"
)

// Name is the controller's name in --controllers.
const Name = "podgc"

// Defaults as kube-controller-manager's.
const (
	DefaultTerminatedPodThreshold = 12500 // --terminated-pod-gc-threshold
	DefaultPeriod                 = 20 * time.Second
	DefaultQuarantine             = 40 * time.Second
)

// Options configure the collector. Client, Pods and Nodes are required.
type Options struct {
	Client kubernetes.Interface
	Pods   coreinformers.PodInformer
	Nodes  coreinformers.NodeInformer
	Clock  clock.WithTicker
	// TerminatedPodThreshold: 0 means the default, negative disables.
	TerminatedPodThreshold int
	Period, Quarantine     time.Duration
}

// Collector is the pod garbage collector; Collect and Start must not run
// concurrently.
type Collector struct {
	opts    Options
	pods    corelisters.PodLister
	nodes   corelisters.NodeLister
	synced  []cache.InformerSynced
	missing map[string]time.Time // node name -> first seen missing
}

var _ controller.Runnable = (*Collector)(nil)

// New validates opts and returns a Collector.
func New(opts Options) (*Collector, error) {
	if opts.Client == nil || opts.Pods == nil || opts.Nodes == nil {
		return nil, errors.New("podgc: Options.Client, Pods and Nodes are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.TerminatedPodThreshold == 0 {
		opts.TerminatedPodThreshold = DefaultTerminatedPodThreshold
	}
	if opts.Period == 0 {
		opts.Period = DefaultPeriod
	}
	if opts.Quarantine == 0 {
		opts.Quarantine = DefaultQuarantine
	}
	return &Collector{opts: opts, pods: opts.Pods.Lister(), nodes: opts.Nodes.Lister(),
		synced:  []cache.InformerSynced{opts.Pods.Informer().HasSynced, opts.Nodes.Informer().HasSynced},
		missing: map[string]time.Time{}}, nil
}

// HasSynced reports whether the informers have synced.
func (g *Collector) HasSynced() bool { return g.synced[0]() && g.synced[1]() }

// Start collects every Period until ctx is done.
func (g *Collector) Start(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), g.synced...) {
		return nil
	}
	t := g.opts.Clock.NewTicker(g.opts.Period)
	defer t.Stop()
	for {
		if err := g.Collect(ctx); err != nil && ctx.Err() == nil {
			controller.LoggerFrom(ctx).Info("pod gc", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

func (g *Collector) forceDelete(ctx context.Context, p *corev1.Pod, why string) error {
	err := g.opts.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("pod %q (%s): delete: %w", p.Namespace+"/"+p.Name, why, err)
	}
	return nil
}

// Collect does one pass.
func (g *Collector) Collect(ctx context.Context) error {
	now := g.opts.Clock.Now()
	pods, err := g.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var errs []error
	var terminated []*corev1.Pod
	stillMissing := map[string]bool{}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			terminated = append(terminated, p)
		}
		switch {
		case p.Spec.NodeName == "" && p.DeletionTimestamp != nil:
			errs = append(errs, g.forceDelete(ctx, p, "unscheduled and terminating"))
		case p.Spec.NodeName != "":
			if _, err := g.nodes.Get(p.Spec.NodeName); err == nil {
				continue
			}
			stillMissing[p.Spec.NodeName] = true
			since, ok := g.missing[p.Spec.NodeName]
			if !ok {
				g.missing[p.Spec.NodeName] = now
				continue
			}
			if now.Sub(since) < g.opts.Quarantine {
				continue
			}
			// The cache may lag: make sure the node is really gone.
			_, err := g.opts.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, g.forceDelete(ctx, p, "orphaned: node "+p.Spec.NodeName+" is gone"))
		}
	}
	for n := range g.missing {
		if !stillMissing[n] {
			delete(g.missing, n)
		}
	}
	if t := g.opts.TerminatedPodThreshold; t > 0 && len(terminated) > t {
		sort.Slice(terminated, func(i, j int) bool {
			return terminated[i].CreationTimestamp.Before(&terminated[j].CreationTimestamp)
		})
		for _, p := range terminated[:len(terminated)-t] {
			errs = append(errs, g.forceDelete(ctx, p, "terminated over threshold"))
		}
	}
	return errors.Join(errs...)
}

// Register adds the collector to m.
func Register(m *controller.Manager, opts Options) error {
	return m.Register(controller.Registration{Name: Name, Setup: func(_ context.Context, m *controller.Manager) (controller.Runnable, error) {
		f := m.InformerFactory()
		o := opts
		o.Client, o.Pods, o.Nodes, o.Clock = m.Client(), f.Core().V1().Pods(), f.Core().V1().Nodes(), m.Clock()
		return New(o)
	}})
}
