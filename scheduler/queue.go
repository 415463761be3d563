package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
)

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Now reads the (injected) clock; nil means time.Now.
	Now func() time.Time
	// Less orders the active queue; nil orders by spec.priority then age.
	Less func(a, b *QueuedPodInfo) bool
	// InitialBackoff and MaxBackoff bound the exponential back-off of
	// pods that failed (defaults 1s and 10s).
	InitialBackoff, MaxBackoff time.Duration
	// UnschedulableTimeout moves pods left unschedulable this long back to
	// the active queue (default 5m).
	UnschedulableTimeout time.Duration
	// Hint decides whether a cluster event may help an unschedulable pod;
	// nil means every event may help every pod. New sets one that asks
	// the plugins that rejected the pod (EnqueueExtensions).
	Hint QueueingHintFunc
}

// ErrQueueClosed is returned by Pop after Close.
var ErrQueueClosed = errors.New("scheduling queue closed")

// Queue is the scheduling queue: an active heap ordered by QueueSort, a
// back-off heap, and a set of unschedulable pods.
//
// A pod that failed with an error waits out an exponential back-off. A pod
// that plugins rejected waits in the unschedulable set until a cluster
// event arrives (OnEvent) that one of those plugins says may help
// (QueueOptions.Hint); it then goes to the active queue at once. Events
// that arrive while a pod is in its scheduling or binding cycle are kept
// and checked when the pod comes back, so none is lost to the race.
//
// It starts no goroutines and reads time only via Options.Now; the owner
// calls FlushBackoffCompleted and FlushUnschedulableLeftover
// periodically. Safe for concurrent use.
type Queue struct {
	mu   sync.Mutex
	cond *sync.Cond
	opts QueueOptions

	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*QueuedPodInfo
	where         map[types.UID]*QueuedPodInfo // every pod in active or backoff
	// inFlight maps popped pods to the scheduling cycle they were popped
	// in; events holds the events since the oldest of them.
	inFlight  map[types.UID]int64
	updated   map[types.UID]inFlightUpdate // pods updated while in flight
	events    []queuedEvent
	pruneMark int

	seq             uint64
	schedulingCycle int64
	closed          bool
}

// inFlightUpdate is the latest object of a pod updated in flight, and
// whether any of those updates changed more than its status.
type inFlightUpdate struct {
	pod     *corev1.Pod
	changed bool
	deleted bool // deleted (or bound elsewhere): do not queue it again
}

// queuedEvent is an event that arrived while pods were in flight.
type queuedEvent struct {
	cycle          int64 // the scheduling cycle when it arrived
	ev             ClusterEvent
	oldObj, newObj any
	backoff        bool // from MoveAllToActiveOrBackoff: respect back-off
}

type podHeap struct {
	items []*QueuedPodInfo
	less  func(a, b *QueuedPodInfo) bool
}

func (h *podHeap) Len() int { return len(h.items) }

// Less orders by the heap's function, then by arrival sequence, so that
// equal keys pop in a deterministic order.
func (h *podHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if h.less(a, b) {
		return true
	}
	if h.less(b, a) {
		return false
	}
	return a.seq < b.seq
}
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index = i
	h.items[j].index = j
}
func (h *podHeap) Push(x any) {
	q := x.(*QueuedPodInfo)
	q.index = len(h.items)
	h.items = append(h.items, q)
}
func (h *podHeap) Pop() any {
	n := len(h.items) - 1
	q := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	q.index = -1
	return q
}

// NewQueue returns an empty queue.
func NewQueue(opts QueueOptions) *Queue {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Less == nil {
		opts.Less = func(a, b *QueuedPodInfo) bool {
			pa, pb := PodPriority(a.Pod), PodPriority(b.Pod)
			return pa > pb || (pa == pb && a.Timestamp.Before(b.Timestamp))
		}
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.UnschedulableTimeout <= 0 {
		opts.UnschedulableTimeout = 5 * time.Minute
	}
	q := &Queue{
		opts:          opts,
		active:        podHeap{less: opts.Less},
		backoff:       podHeap{less: func(a, b *QueuedPodInfo) bool { return a.backoffExpiry.Before(b.backoffExpiry) }},
		unschedulable: map[types.UID]*QueuedPodInfo{},
		where:         map[types.UID]*QueuedPodInfo{},
		inFlight:      map[types.UID]int64{},
		updated:       map[types.UID]inFlightUpdate{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add adds a new pending pod to the active queue (or updates it). A pod
// in flight is not added twice: the new object is kept for when its
// attempt ends (see AddUnschedulable).
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(pod, true)
}

func (q *Queue) addLocked(pod *corev1.Pod, changed bool) {
	if _, ok := q.inFlight[pod.UID]; ok {
		if u := q.updated[pod.UID]; !u.deleted {
			q.updated[pod.UID] = inFlightUpdate{pod: pod, changed: changed || u.changed}
		}
		return
	}
	if qp, ok := q.where[pod.UID]; ok {
		qp.PodInfo = NewPodInfo(pod)
		if qp.index >= 0 {
			if q.isActive(qp) {
				heap.Fix(&q.active, qp.index)
			}
		}
		return
	}
	if qp, ok := q.unschedulable[pod.UID]; ok {
		delete(q.unschedulable, pod.UID)
		qp.PodInfo = NewPodInfo(pod)
		q.pushActive(qp)
		return
	}
	now := q.opts.Now()
	q.seq++
	q.pushActive(&QueuedPodInfo{PodInfo: NewPodInfo(pod), Timestamp: now, index: -1, seq: q.seq})
}

func (q *Queue) isActive(qp *QueuedPodInfo) bool {
	return qp.index < len(q.active.items) && q.active.items[qp.index] == qp
}

func (q *Queue) pushActive(qp *QueuedPodInfo) {
	heap.Push(&q.active, qp)
	q.where[qp.Pod.UID] = qp
	q.cond.Broadcast()
}

// Update replaces a pending pod's object. An unschedulable pod is retried
// at once if its labels, annotations or spec changed (its own update may
// be what makes it fit); a status-only update (such as
// nominatedNodeName) leaves it where it is.
func (q *Queue) Update(old, pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	changed := old == nil || podChangedForScheduling(old, pod)
	if qp, ok := q.unschedulable[pod.UID]; ok && !changed {
		qp.PodInfo = NewPodInfo(pod)
		return
	}
	q.addLocked(pod, changed)
}

// podChangedForScheduling reports whether anything but status and
// bookkeeping metadata differs.
func podChangedForScheduling(old, pod *corev1.Pod) bool {
	return !reflect.DeepEqual(old.Labels, pod.Labels) ||
		!reflect.DeepEqual(old.Annotations, pod.Annotations) ||
		!equality.Semantic.DeepEqual(old.Spec, pod.Spec)
}

// Delete removes a pod from the queue.
func (q *Queue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.unschedulable, pod.UID)
	if _, ok := q.inFlight[pod.UID]; ok {
		q.updated[pod.UID] = inFlightUpdate{deleted: true}
	}
	qp, ok := q.where[pod.UID]
	if !ok {
		return
	}
	delete(q.where, pod.UID)
	if q.isActive(qp) {
		heap.Remove(&q.active, qp.index)
	} else if qp.index >= 0 && qp.index < len(q.backoff.items) && q.backoff.items[qp.index] == qp {
		heap.Remove(&q.backoff, qp.index)
	}
}

// Pop blocks until a pod is active (or ctx is done, or the queue closed)
// and returns it. The pod is in flight until Done.
func (q *Queue) Pop(ctx context.Context) (*QueuedPodInfo, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active.items) == 0 {
		if q.closed {
			return nil, ErrQueueClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.cond.Wait()
	}
	return q.popLocked(), nil
}

// TryPop returns the next active pod, or nil without blocking.
func (q *Queue) TryPop() *QueuedPodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.active.items) == 0 {
		return nil
	}
	return q.popLocked()
}

func (q *Queue) popLocked() *QueuedPodInfo {
	qp := heap.Pop(&q.active).(*QueuedPodInfo)
	delete(q.where, qp.Pod.UID)
	qp.Attempts++
	q.schedulingCycle++
	q.inFlight[qp.Pod.UID] = q.schedulingCycle
	return qp
}

// SchedulingCycle returns the number of pods popped so far.
func (q *Queue) SchedulingCycle() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.schedulingCycle
}

// Done marks a popped pod as no longer in flight (it was bound, or
// dropped).
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	q.doneLocked(uid)
	q.mu.Unlock()
}

// doneLocked ends uid's flight and forgets the events no pod in flight
// can still need: all of them when none is left, else (amortised, when
// the log doubled) those before the oldest pod's cycle.
func (q *Queue) doneLocked(uid types.UID) {
	delete(q.inFlight, uid)
	delete(q.updated, uid)
	if len(q.inFlight) == 0 {
		clear(q.events)
		q.events = q.events[:0]
		q.pruneMark = 0
		return
	}
	if len(q.events) < 2*q.pruneMark+64 {
		return
	}
	oldest := int64(-1)
	for _, c := range q.inFlight {
		if oldest < 0 || c < oldest {
			oldest = c
		}
	}
	keep := 0
	for keep < len(q.events) && q.events[keep].cycle < oldest {
		keep++
	}
	n := copy(q.events, q.events[keep:])
	clear(q.events[n:])
	q.events = q.events[:n]
	q.pruneMark = n
}

// BackoffDuration is the back-off after the given number of attempts:
// InitialBackoff doubled per attempt after the first, at most MaxBackoff.
func (q *Queue) BackoffDuration(attempts int) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < attempts; i++ {
		d *= 2
		if d >= q.opts.MaxBackoff {
			return q.opts.MaxBackoff
		}
	}
	return d
}

// AddUnschedulable returns a pod that failed in the scheduling cycle
// podCycle (the SchedulingCycle right after it was popped). Set
// qp.UnschedulablePlugins first to the plugins that rejected it. With
// errored true (an internal error, not a rejection) the pod goes to
// back-off. Otherwise, if an event that may help it arrived during its
// cycle, it goes back to the active queue; else it waits in the
// unschedulable set for one.
func (q *Queue) AddUnschedulable(qp *QueuedPodInfo, podCycle int64, errored bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	uid := qp.Pod.UID
	defer q.doneLocked(uid)
	if _, ok := q.where[uid]; ok {
		return // re-added (updated) while in flight
	}
	if _, ok := q.unschedulable[uid]; ok {
		return
	}
	if u, ok := q.updated[uid]; ok {
		if u.deleted {
			return
		}
		qp.PodInfo = NewPodInfo(u.pod)
		if u.changed {
			q.pushActive(qp) // its own change may be what it needed
			return
		}
	}
	now := q.opts.Now()
	qp.backoffExpiry = now.Add(q.BackoffDuration(qp.Attempts))
	if errored {
		q.pushBackoff(qp)
		return
	}
	for i := range q.events {
		e := &q.events[i]
		if e.cycle < podCycle || !q.helps(qp, e.ev, e.oldObj, e.newObj) {
			continue
		}
		if e.backoff && now.Before(qp.backoffExpiry) {
			q.pushBackoff(qp)
		} else {
			q.pushActive(qp)
		}
		return
	}
	q.unschedulable[uid] = qp
	qp.UnschedulableSince = now
}

func (q *Queue) pushBackoff(qp *QueuedPodInfo) {
	heap.Push(&q.backoff, qp)
	q.where[qp.Pod.UID] = qp
}

// helps asks the hint whether ev may make qp schedulable. Wildcard events
// (MoveAllToActiveOrBackoff, timeouts) help every pod; an event about the
// pod itself (its assumed copy forgotten) does not.
func (q *Queue) helps(qp *QueuedPodInfo, ev ClusterEvent, oldObj, newObj any) bool {
	for _, o := range [2]any{oldObj, newObj} {
		if p, ok := o.(*corev1.Pod); ok && p.UID == qp.Pod.UID {
			return false
		}
	}
	if q.opts.Hint == nil || ev.Resource == WildCardResource {
		return true
	}
	return q.opts.Hint(qp, ev, oldObj, newObj)
}

// OnEvent reports a cluster event: every unschedulable pod it may help
// (as QueueOptions.Hint says) moves to the active queue at once, without
// back-off, and pods in flight will check it when they come back. oldObj
// and newObj are what QueueingHintFn documents. An empty event (no action
// bits) does nothing.
func (q *Queue) OnEvent(ev ClusterEvent, oldObj, newObj any) {
	if ev.IsEmpty() {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.inFlight) > 0 {
		q.events = append(q.events, queuedEvent{cycle: q.schedulingCycle, ev: ev, oldObj: oldObj, newObj: newObj})
	}
	for uid, qp := range q.unschedulable {
		if q.helps(qp, ev, oldObj, newObj) {
			delete(q.unschedulable, uid)
			q.pushActive(qp)
		}
	}
}

// MoveAllToActiveOrBackoff moves every unschedulable pod to the active
// queue, or to back-off if its back-off has not expired, whatever the
// plugins' hints; pods in flight do the same when they come back. It is
// for callers that cannot say what changed; OnEvent is more precise.
func (q *Queue) MoveAllToActiveOrBackoff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	for uid, qp := range q.unschedulable {
		delete(q.unschedulable, uid)
		if now.Before(qp.backoffExpiry) {
			q.pushBackoff(qp)
		} else {
			q.pushActive(qp)
		}
	}
	if len(q.inFlight) > 0 {
		q.events = append(q.events, queuedEvent{cycle: q.schedulingCycle, ev: EventUnschedulableTimeout, backoff: true})
	}
}

// FlushBackoffCompleted moves pods whose back-off expired to the active
// queue.
func (q *Queue) FlushBackoffCompleted() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	for len(q.backoff.items) > 0 && !now.Before(q.backoff.items[0].backoffExpiry) {
		qp := heap.Pop(&q.backoff).(*QueuedPodInfo)
		delete(q.where, qp.Pod.UID)
		q.pushActive(qp)
	}
}

// FlushUnschedulableLeftover moves pods unschedulable for longer than
// UnschedulableTimeout back to the active queue.
func (q *Queue) FlushUnschedulableLeftover() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.UnschedulableSince) >= q.opts.UnschedulableTimeout {
			delete(q.unschedulable, uid)
			q.pushActive(qp)
		}
	}
}

// NextBackoffExpiry returns when the earliest back-off ends, ok false if
// none.
func (q *Queue) NextBackoffExpiry() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.backoff.items) == 0 {
		return time.Time{}, false
	}
	return q.backoff.items[0].backoffExpiry, true
}

// Len returns the sizes of the active, back-off and unschedulable parts.
func (q *Queue) Len() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active.items), len(q.backoff.items), len(q.unschedulable)
}

// Close wakes blocked Pops, which then return ErrQueueClosed.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}
