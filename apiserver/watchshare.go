package apiserver

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Bounds of sharedEvents: the most events it keeps, and the most bytes of
// stored values (the decoded objects take a few times as much). Watchers of
// a resource usually take an event within moments of each other; the
// bounds let them share through a burst of writes too (a watcher that
// falls further behind decodes for itself).
const (
	sharedEventsMax      = 16384
	sharedEventsMaxBytes = 16 << 20
)

// sharedEvents lets the watchers of a resource share the work on each store
// event: its values are decoded once and the objects are encoded once per
// media type, instead of once per watcher (every node agent watches pods:
// with N nodes each pod change used to be decoded N times). The objects are
// shared: nothing may change them (watchers that need a view of the object
// work on a copy).
type sharedEvents struct {
	mu      sync.Mutex
	entries map[sharedKey]*sharedEvent
	order   []sharedKey // oldest first, from head
	head    int
	bytes   int
}

type sharedKey struct {
	gvk schema.GroupVersionKind // the Go type the values decode into
	key string
	rev int64
}

// sharedEvent is the decoded values of one store event and the encodings
// of those objects.
type sharedEvent struct {
	size int // bytes of the stored values

	once      sync.Once
	cur, prev runtime.Object
	err       error

	mu      sync.Mutex
	encoded map[encodingKey][]byte
}

// encodingKey names one encoding of one of a sharedEvent's objects.
type encodingKey struct {
	obj       runtime.Object // cur or prev (compared by pointer)
	mediaType string
}

// get returns the entry of the event at (gvk, key, rev), new and empty the
// first time; size is the length of the event's stored values.
func (c *sharedEvents) get(gvk schema.GroupVersionKind, key string, rev int64, size int) *sharedEvent {
	k := sharedKey{gvk: gvk, key: key, rev: rev}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		return e
	}
	if c.entries == nil {
		c.entries = map[sharedKey]*sharedEvent{}
	}
	for len(c.order)-c.head >= sharedEventsMax || (c.bytes+size > sharedEventsMaxBytes && len(c.order) > c.head) {
		old := c.order[c.head]
		c.order[c.head] = sharedKey{}
		c.head++
		c.bytes -= c.entries[old].size
		delete(c.entries, old)
	}
	if c.head > len(c.order)/2 {
		// Move the live part to the front now and then, so that order
		// does not grow without bound.
		c.order = append(c.order[:0], c.order[c.head:]...)
		c.head = 0
	}
	e := &sharedEvent{size: size}
	c.entries[k] = e
	c.order = append(c.order, k)
	c.bytes += size
	return e
}

// decode fills cur and prev with fn the first time it is called.
func (e *sharedEvent) decode(fn func() (cur, prev runtime.Object, err error)) (cur, prev runtime.Object, err error) {
	e.once.Do(func() { e.cur, e.prev, e.err = fn() })
	return e.cur, e.prev, e.err
}

// encoding returns the encoding of obj (the event's cur or prev) for
// mediaType, made with enc the first time. Encoders set the object's kind
// while they run: they run one at a time per entry.
func (e *sharedEvent) encoding(obj runtime.Object, mediaType string, enc func() ([]byte, error)) ([]byte, error) {
	k := encodingKey{obj: obj, mediaType: mediaType}
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.encoded[k]; ok {
		return b, nil
	}
	b, err := enc()
	if err != nil {
		return nil, err
	}
	if e.encoded == nil {
		e.encoded = map[encodingKey][]byte{}
	}
	e.encoded[k] = b
	return b, nil
}
