package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// Options configure a Controller. Name and Reconciler are required.
type Options struct {
	// Name identifies the controller in logs, metrics and the Manager's
	// --controllers list.
	Name string
	// Reconciler is called for every dequeued request.
	Reconciler Reconciler
	// Workers is how many requests are reconciled in parallel; 0 means 1.
	Workers int
	// RateLimiter decides the backoff of failed requests; nil means
	// workqueue.DefaultTypedControllerRateLimiter (5ms doubling to 1000s per
	// item, 10 qps overall with a burst of 100).
	RateLimiter workqueue.TypedRateLimiter[Request]
	// Clock drives RequeueAfter and backoff delays; nil means the real clock.
	Clock clock.WithTicker
	// Metrics receives queue depth, reconcile latency and errors; nil means
	// none.
	Metrics *Metrics
}

// Controller feeds a rate-limited work queue from informer events and runs
// workers that call the Reconciler. Register informers with Watch before
// Start; Enqueue is safe from any goroutine at any time.
type Controller struct {
	opts     Options
	queue    workqueue.TypedRateLimitingInterface[Request]
	conflict workqueue.TypedRateLimiter[Request]
	mu       sync.Mutex
	synced   []cache.InformerSynced
	start    bool
}

var _ Runnable = (*Controller)(nil)

// New validates opts and returns a Controller whose queue exists (so Watch
// and Enqueue work) but whose workers wait for Start.
func New(opts Options) (*Controller, error) {
	if opts.Name == "" {
		return nil, errors.New("controller: Options.Name is required")
	}
	if opts.Reconciler == nil {
		return nil, fmt.Errorf("controller %q: Options.Reconciler is required", opts.Name)
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.RateLimiter == nil {
		opts.RateLimiter = workqueue.DefaultTypedControllerRateLimiter[Request]()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	cfg := workqueue.TypedRateLimitingQueueConfig[Request]{Name: opts.Name, Clock: opts.Clock}
	if opts.Metrics != nil {
		cfg.MetricsProvider = opts.Metrics.queueProvider()
	} else {
		cfg.MetricsProvider = noopProvider{}
	}
	return &Controller{
		opts:     opts,
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(opts.RateLimiter, cfg),
		conflict: workqueue.NewTypedItemExponentialFailureRateLimiter[Request](5*time.Millisecond, 10*time.Second),
	}, nil
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.opts.Name }

// Watch registers h on inf: every add, update (old and new object) and
// delete event is mapped to requests that are enqueued. Start waits until
// every watched informer has synced. Call Watch before Start.
func (c *Controller) Watch(inf cache.SharedInformer, h EventHandler) error {
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.enqueueAll(h.Map(obj)) },
		UpdateFunc: func(oldObj, newObj any) {
			c.enqueueAll(h.Map(oldObj))
			c.enqueueAll(h.Map(newObj))
		},
		DeleteFunc: func(obj any) { c.enqueueAll(h.Map(unwrap(obj))) },
	})
	if err != nil {
		return fmt.Errorf("controller %q: watch: %w", c.opts.Name, err)
	}
	c.mu.Lock()
	c.synced = append(c.synced, reg.HasSynced)
	c.mu.Unlock()
	return nil
}

// WaitFor makes Start wait for synced as well before the workers begin
// (for informers the controller reads without watching).
func (c *Controller) WaitFor(synced ...cache.InformerSynced) {
	c.mu.Lock()
	c.synced = append(c.synced, synced...)
	c.mu.Unlock()
}

func (c *Controller) enqueueAll(reqs []Request) {
	for _, r := range reqs {
		c.queue.Add(r)
	}
}

// Enqueue adds req to the queue now.
func (c *Controller) Enqueue(req Request) { c.queue.Add(req) }

// EnqueueAfter adds req to the queue after d on the controller's clock.
func (c *Controller) EnqueueAfter(req Request, d time.Duration) { c.queue.AddAfter(req, d) }

// Len returns the number of requests waiting in the queue.
func (c *Controller) Len() int { return c.queue.Len() }

// Start waits for the watched informers to sync, then runs the workers
// until ctx is done; it shuts the queue down, waits for the workers to
// finish their current request and returns nil. A Controller starts once.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.start {
		c.mu.Unlock()
		return fmt.Errorf("controller %q: already started", c.opts.Name)
	}
	c.start = true
	synced := append([]cache.InformerSynced(nil), c.synced...)
	c.mu.Unlock()

	log := LoggerFrom(ctx).With("controller", c.opts.Name)
	ctx = WithLogger(ctx, log)
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("controller %q: caches did not sync", c.opts.Name)
	}
	log.Debug("starting workers", "workers", c.opts.Workers)
	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	req, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(req)
	start := c.opts.Clock.Now()
	res, err := c.reconcile(ctx, req)
	if m := c.opts.Metrics; m != nil {
		m.observe(c.opts.Name, c.opts.Clock.Since(start), err)
	}
	switch {
	case err != nil && apierrors.IsConflict(err):
		// A stale cache wrote over a newer object: retry as soon as the
		// watch has caught up, with per-item backoff only (the overall
		// bucket of the default limiter would throttle every controller
		// after a burst of such routine conflicts).
		c.queue.AddAfter(req, c.conflict.When(req))
	case err != nil:
		if ctx.Err() == nil {
			LoggerFrom(ctx).Info("reconcile failed", "request", req.String(), "err", err)
		}
		c.queue.AddRateLimited(req)
	case res.RequeueAfter > 0:
		c.queue.Forget(req)
		c.queue.AddAfter(req, res.RequeueAfter)
	case res.Requeue:
		c.queue.AddRateLimited(req)
	default:
		c.queue.Forget(req)
	}
	if err == nil {
		c.conflict.Forget(req)
	}
	return true
}

func (c *Controller) reconcile(ctx context.Context, req Request) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("controller %q: reconcile %s panicked: %v", c.opts.Name, req, r)
		}
	}()
	return c.opts.Reconciler.Reconcile(ctx, req)
}
