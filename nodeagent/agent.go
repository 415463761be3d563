package nodeagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/runtime"
)

// Options configure an Agent. NodeName, Client and Runtime are required.
type Options struct {
	// NodeName is the name of the Node object this agent registers and
	// keeps (--hostname-override).
	NodeName string
	// Client talks to the API server with the node's identity.
	Client kubernetes.Interface
	// Runtime runs the pods.
	Runtime runtime.Runtime
	// NodeIP is the node's InternalIP address (--node-ip); optional.
	NodeIP netip.Addr
	// Labels and Taints are set on the Node when it registers
	// (--node-labels, --register-with-taints).
	Labels map[string]string
	Taints []corev1.Taint
	// DisableRegistration (--register-node=false) leaves the Node to an
	// administrator: the agent waits until it exists, then heartbeats and
	// runs its pods, without setting labels or taints.
	DisableRegistration bool
	// Capacity overrides the measured capacity (cpu, memory, pods); unset
	// entries are measured (pods: 110).
	Capacity corev1.ResourceList
	// Network is where pod sandboxes join: a bridge and the node's pod
	// subnet. The zero value uses the runtime's default network.
	Network runtime.NetworkConfig
	// DNS is given to every pod that does not use the host network.
	DNS runtime.DNSConfig
	// RootDir holds the pods' volumes, pods/<uid>/volumes/<plugin>/<name>
	// (the kubelet's --root-dir); empty means DefaultRootDir(NodeName).
	// Secrets are written below it: keep it private to the agent.
	RootDir string

	// ServeAddress is where the agent's HTTP API (Handler) listens, e.g.
	// "0.0.0.0:10250"; port 0 picks a free port. Empty: not served (an
	// embedding program may mount Handler itself and set Port).
	ServeAddress string
	// Port is the API port reported in node status (daemonEndpoints), when
	// the agent does not serve it itself.
	Port int32
	// TLSConfig is the API's serving TLS configuration (the kubelet's
	// --tls-cert-file, --tls-private-key-file, --client-ca-file; see
	// pki.ServerTLSConfig); nil means a self-signed certificate for
	// NodeName and NodeIP made at start (see SelfSignedTLSConfig). The API
	// is always served over TLS.
	TLSConfig *tls.Config
	// Authenticator and Authorizer guard the API (see Handler). Both or
	// neither: the kubelet's secure setup is a union of a
	// pki.CertAuthenticator and a TokenReviewAuthenticator, and a
	// SubjectAccessReviewAuthorizer. With neither, anyone who reaches the
	// API may use it (the kubelet's --anonymous-auth=true
	// --authorization-mode=AlwaysAllow): for tests and embedding only.
	Authenticator apiserver.Authenticator
	Authorizer    apiserver.Authorizer

	// LeaseDuration is the node lease's duration (40s); RenewInterval how
	// often the agent renews it (10s).
	LeaseDuration, RenewInterval time.Duration
	// StatusUpdateInterval is how often node status is posted (10s).
	StatusUpdateInterval time.Duration
	// SyncInterval is how often a running pod is checked against the
	// runtime (10s): the runtime reports no events, so exits are found by
	// this poll.
	SyncInterval time.Duration
	// BackOff is the first delay before restarting a crashed container
	// (10s); it doubles on each restart up to MaxBackOff (5m). Image pulls
	// that fail back off the same way (ImagePullBackOff).
	BackOff, MaxBackOff time.Duration

	// PodManifestPath is a directory of static pod manifests (the kubelet's
	// --pod-manifest-path): one pod per YAML or JSON file, read again every
	// FileCheckFrequency (20s). Empty: no static pods. See the package doc.
	PodManifestPath    string
	FileCheckFrequency time.Duration

	// Container garbage collection runs every ContainerGCInterval (1m): of
	// the exited containers of each container of a pod, the newest
	// MaxPerPodContainer (1; negative: no limit) stay, and of all exited
	// containers at most MaxContainers (0: no limit); the newest attempt of
	// each container always stays, and none younger than MinimumGCAge (0)
	// goes (the kubelet's --maximum-dead-containers-per-container,
	// --maximum-dead-containers, --minimum-container-ttl-duration).
	ContainerGCInterval time.Duration
	MaxPerPodContainer  int
	MaxContainers       int
	MinimumGCAge        time.Duration
	// Image garbage collection runs with container garbage collection when
	// ImageFSPath is set (a path on the runtime's image filesystem, e.g.
	// /var/lib/docker): when that filesystem is more than
	// ImageGCHighThresholdPercent (85) full, images no container uses are
	// removed, least recently used first, until it would be below
	// ImageGCLowThresholdPercent (80); images used less than
	// ImageMinimumGCAge (2m) ago and PinnedImages (by tag; keep the
	// runtime's sandbox image here) stay. The kubelet's
	// --image-gc-high-threshold, --image-gc-low-threshold,
	// --image-minimum-gc-age. Linux only.
	ImageFSPath                 string
	ImageGCHighThresholdPercent int
	ImageGCLowThresholdPercent  int
	ImageMinimumGCAge           time.Duration
	PinnedImages                []string

	// Clock drives all timers; nil means the real clock.
	Clock clock.WithTicker
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Version is the agent version reported in node info; default
	// "v1.37.2-gantry".
	Version string
}

func (o *Options) validate() error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("NodeName is required"))
	}
	if o.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if o.Runtime == nil {
		errs = append(errs, errors.New("Runtime is required"))
	}
	for _, d := range []*time.Duration{&o.LeaseDuration, &o.RenewInterval, &o.StatusUpdateInterval, &o.SyncInterval, &o.BackOff, &o.MaxBackOff,
		&o.FileCheckFrequency, &o.ContainerGCInterval, &o.MinimumGCAge, &o.ImageMinimumGCAge} {
		if *d < 0 {
			errs = append(errs, fmt.Errorf("negative interval %v", *d))
		}
	}
	setDefault(&o.LeaseDuration, 40*time.Second)
	setDefault(&o.RenewInterval, 10*time.Second)
	setDefault(&o.StatusUpdateInterval, 10*time.Second)
	setDefault(&o.SyncInterval, 10*time.Second)
	setDefault(&o.BackOff, 10*time.Second)
	setDefault(&o.MaxBackOff, 5*time.Minute)
	setDefault(&o.FileCheckFrequency, 20*time.Second)
	setDefault(&o.ContainerGCInterval, time.Minute)
	if o.MaxPerPodContainer == 0 {
		o.MaxPerPodContainer = 1
	}
	if o.MaxContainers < 0 {
		errs = append(errs, fmt.Errorf("negative MaxContainers %d", o.MaxContainers))
	}
	setDefault(&o.ImageMinimumGCAge, 2*time.Minute)
	if o.ImageGCHighThresholdPercent == 0 {
		o.ImageGCHighThresholdPercent = 85
	}
	if o.ImageGCLowThresholdPercent == 0 {
		o.ImageGCLowThresholdPercent = 80
	}
	if lo, hi := o.ImageGCLowThresholdPercent, o.ImageGCHighThresholdPercent; lo < 0 || hi > 100 || lo > hi {
		errs = append(errs, fmt.Errorf("image GC thresholds: want 0 <= low (%d) <= high (%d) <= 100", lo, hi))
	}
	if o.PodManifestPath != "" {
		if abs, err := filepath.Abs(o.PodManifestPath); err != nil {
			errs = append(errs, fmt.Errorf("PodManifestPath: %w", err))
		} else {
			o.PodManifestPath = abs
		}
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Version == "" {
		o.Version = "v1.37.2-gantry"
	}
	if o.RootDir == "" {
		o.RootDir = DefaultRootDir(o.NodeName)
	}
	if abs, err := filepath.Abs(o.RootDir); err != nil {
		errs = append(errs, fmt.Errorf("RootDir: %w", err))
	} else {
		o.RootDir = abs
	}
	if (o.Authenticator == nil) != (o.Authorizer == nil) {
		errs = append(errs, errors.New("Authenticator and Authorizer go together"))
	}
	for name, q := range o.Capacity {
		if q.Sign() < 0 {
			errs = append(errs, fmt.Errorf("capacity %s is negative", name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nodeagent: %w", errors.Join(errs...))
	}
	return nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Agent is the node agent of one node. Create it with New and run it with
// Run.
type Agent struct {
	opts  Options
	log   *slog.Logger
	clock clock.WithTicker
	rt    runtime.Runtime
	cs    kubernetes.Interface

	pods corelisters.PodLister
	// podsSynced is set once pods is filled: static pods run before.
	podsSynced atomic.Bool
	queue      workqueue.TypedRateLimitingInterface[string]
	// backoff computes crash-loop delays.
	backoff *backoff
	// port is the API port reported in node status.
	port int32
	// probes holds the probe results of running containers.
	probes probes
	// volumes keeps the pods' volumes on disk.
	volumes *volumeManager
	// static holds the static pods (nil without PodManifestPath); pulls
	// the image pull back-off.
	static *staticPods
	pulls  pullBackoff
	// nodeUID is the Node's UID, the mirror pods' owner.
	nodeUID atomic.Value // types.UID
	// images records when images were last used; imageFSUsage measures
	// the image filesystem (statFS; tests replace it).
	images       imageRecords
	imageFSUsage func(path string) (capacity, available uint64, err error)
	// metrics are served at /metrics (metrics.go); rt is instrumented.
	metrics *agentMetrics
	// events records the agent's events on pods and on the Node.
	events recorder
}

// New validates opts and returns an Agent.
func New(opts Options) (*Agent, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		opts: opts, log: opts.Logger.With("node", opts.NodeName), clock: opts.Clock,
		rt: opts.Runtime, cs: opts.Client,
		backoff: newBackoff(opts.BackOff, opts.MaxBackOff),
		port:    opts.Port,
		volumes: newVolumeManager(opts.RootDir, opts.Client, opts.Clock, opts.Logger.With("node", opts.NodeName), defaultCapacity(opts.Capacity, opts.RootDir), opts.SyncInterval),
	}
	a.metrics = newMetrics(opts.Runtime, opts.Clock)
	a.rt = a.metrics.instrument(opts.Runtime)
	if opts.PodManifestPath != "" {
		a.static = newStaticPods(opts.PodManifestPath, opts.NodeName)
	}
	a.imageFSUsage = statFS
	return a, nil
}

// Run registers the node and then keeps its lease and status fresh and runs
// the pods bound to it, until ctx is done. It blocks; containers keep running
// after it returns (a restarted agent adopts them).
func (a *Agent) Run(ctx context.Context) error {
	if a.opts.ServeAddress != "" {
		stop, err := a.serve(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Static pods run from the start, before the node registers and
	// whether or not the API server answers: the queue and its workers
	// come first.
	ctx, cancel := context.WithCancel(ctx)
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "pods", Clock: a.clock},
	)
	// Run returns once every goroutine it started is done, so that nothing
	// touches the runtime or the pods' volumes afterwards.
	var wg sync.WaitGroup
	defer func() {
		cancel()
		a.queue.ShutDown()
		wg.Wait()
	}()
	if a.static != nil {
		a.readManifests(ctx)
		wg.Go(func() { a.every(ctx, a.opts.FileCheckFrequency, a.readManifests) })
	}
	for range 2 {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	a.nodeEvent(corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	if err := a.register(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(a.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.opts.NodeName).String()
	}))
	podInformer := factory.Core().V1().Pods()
	a.pods = podInformer.Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced) {
		return nil // stopped while starting
	}
	// Events are recorded from the first sync of an API pod on.
	defer a.volumes.release()
	defer a.events.start(a.cs, a.opts.NodeName)()
	a.podsSynced.Store(true)
	// Events that came before were skipped (see syncPod): queue every pod.
	if pods, err := a.pods.List(everything); err == nil {
		for _, p := range pods {
			a.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
	a.log.InfoContext(ctx, "node agent running")

	wg.Go(func() { a.heartbeat(ctx) })
	wg.Go(func() { a.every(ctx, a.opts.SyncInterval, a.housekeeping) })
	wg.Go(func() { a.every(ctx, a.opts.ContainerGCInterval, a.collectGarbage) })
	if a.static != nil {
		// Mirror pods can be made now.
		for _, key := range a.static.keys() {
			a.queue.Add(key)
		}
	}
	<-ctx.Done()
	// The workers stop before the deferred calls stop what they use.
	a.queue.ShutDown()
	wg.Wait()
	return nil
}

func (a *Agent) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	start := a.clock.Now()
	after, err := a.syncPod(ctx, key)
	a.metrics.observeSync(a.clock.Since(start), err)
	switch {
	case err != nil && ctx.Err() == nil:
		if apierrors.IsConflict(err) {
			// The status was written from a stale copy; the informer
			// brings the new one and the next sync retries.
			a.log.DebugContext(ctx, "syncing pod: stale copy", "pod", key)
		} else {
			a.log.ErrorContext(ctx, "syncing pod", "pod", key, "err", err)
		}
		a.queue.AddRateLimited(key)
	case after > 0:
		a.queue.Forget(key)
		a.queue.AddAfter(key, after)
	default:
		a.queue.Forget(key)
	}
	return true
}

// every calls fn every d on the agent's clock until ctx is done.
func (a *Agent) every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := a.clock.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			fn(ctx)
		}
	}
}

// defaultCapacity measures the machine: cpu, memory, 110 pods, and
// ephemeral-storage, the size of the filesystem that holds rootDir (the
// kubelet's nodefs), when it can be read. override replaces any of them.
func defaultCapacity(override corev1.ResourceList, rootDir string) corev1.ResourceList {
	c := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(numCPU()), resource.DecimalSI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
	}
	if size, err := fsCapacity(rootDir); err == nil && size > 0 {
		c[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(size), resource.BinarySI)
	}
	for k, v := range override {
		c[k] = v
	}
	return c
}

// fsCapacity is the size of the filesystem that holds path, or would hold
// it: the nearest existing directory above a path not made yet counts.
func fsCapacity(path string) (uint64, error) {
	for {
		size, _, err := statFS(path)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return size, err
		}
		parent := filepath.Dir(path)
		if parent == path {
			return 0, err
		}
		path = parent
	}
}
