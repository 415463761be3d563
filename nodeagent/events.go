package nodeagent

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// maxPendingNodeEvents bounds the Node's events kept while the recorder
// does not run (an agent waiting long for its API server).
const maxPendingNodeEvents = 32

// recorder is the agent's event recorder, as the kubelet's (source
// "kubelet" on this node): events on pods and on the Node, recorded
// between start and its stop. A pod's events outside that are dropped (a
// pod's first sync comes after start); the Node's are kept, at most
// maxPendingNodeEvents, and sent in order at start, since registration
// posts the first status before. Safe for concurrent use; it does not
// block.
type recorder struct {
	mu      sync.Mutex
	rec     record.EventRecorder // nil outside start..stop
	pending []pendingEvent       // the Node's, before start
}

type pendingEvent struct {
	ref                    *corev1.ObjectReference
	eventType, reason, msg string
}

// start records to the API server until the returned func is called,
// beginning with the Node's events kept so far.
func (r *recorder) start(cs kubernetes.Interface, host string) (stop func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: host})
	r.mu.Lock()
	r.rec = rec
	for _, e := range r.pending {
		rec.Event(e.ref, e.eventType, e.reason, e.msg)
	}
	r.pending = nil
	r.mu.Unlock()
	return func() {
		b.Shutdown()
		r.mu.Lock()
		r.rec = nil
		r.mu.Unlock()
	}
}

// event records an event on obj (a pod), dropped when not running.
func (r *recorder) event(obj runtime.Object, eventType, reason, msg string) {
	r.mu.Lock()
	rec := r.rec
	r.mu.Unlock()
	if rec != nil {
		rec.Event(obj, eventType, reason, msg)
	}
}

// nodeEvent records an event on the Node ref names, kept until start when
// not running yet.
func (r *recorder) nodeEvent(ref *corev1.ObjectReference, eventType, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec != nil {
		r.rec.Event(ref, eventType, reason, msg)
		return
	}
	if len(r.pending) < maxPendingNodeEvents {
		r.pending = append(r.pending, pendingEvent{ref, eventType, reason, msg})
	}
}
