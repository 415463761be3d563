package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Request names the object a Reconciler is asked to bring to its desired
// state. It carries no object: the reconciler reads the current state from
// its listers, so that several events for one object collapse into one
// reconcile.
type Request struct {
	types.NamespacedName
}

// Result tells the Controller what to do after a successful reconcile.
// The zero value means done: the request is forgotten until the next event.
type Result struct {
	// Requeue puts the request back through the rate limiter (backoff).
	Requeue bool
	// RequeueAfter puts the request back after this long, measured on the
	// controller's clock. It wins over Requeue when both are set.
	RequeueAfter time.Duration
}

// IsZero reports whether r asks for nothing more.
func (r Result) IsZero() bool { return !r.Requeue && r.RequeueAfter == 0 }

// Reconciler makes the current state of the object named by req match its
// desired state. It is called by at most one worker at a time for a given
// Request, by several workers concurrently for different ones. An error
// requeues the request with backoff; the context carries the logger
// (LoggerFrom) and is cancelled when the controller stops.
type Reconciler interface {
	Reconcile(ctx context.Context, req Request) (Result, error)
}

// ReconcilerFunc adapts a function to a Reconciler.
type ReconcilerFunc func(ctx context.Context, req Request) (Result, error)

// Reconcile calls f(ctx, req).
func (f ReconcilerFunc) Reconcile(ctx context.Context, req Request) (Result, error) {
	return f(ctx, req)
}

var _ Reconciler = ReconcilerFunc(nil)

// Runnable is anything the Manager starts: Start blocks until ctx is done
// (or the runnable fails) and returns nil on a clean stop.
type Runnable interface {
	Start(ctx context.Context) error
}

// RunnableFunc adapts a function to a Runnable.
type RunnableFunc func(ctx context.Context) error

// Start calls f(ctx).
func (f RunnableFunc) Start(ctx context.Context) error { return f(ctx) }

var _ Runnable = RunnableFunc(nil)
