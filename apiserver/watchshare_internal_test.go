package apiserver

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var podGVK = corev1.SchemeGroupVersion.WithKind("Pod")

// TestSharedEventsDecodeAndEncodeOnce: concurrent watchers of one event get
// one entry, decoded once and encoded once per object and media type.
func TestSharedEventsDecodeAndEncodeOnce(t *testing.T) {
	var c sharedEvents
	var decodes, encodes atomic.Int32
	pod := &corev1.Pod{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := c.get(podGVK, "/registry/pods/default/a", 7, 100)
			cur, _, err := e.decode(func() (runtime.Object, runtime.Object, error) {
				decodes.Add(1)
				return pod, nil, nil
			})
			require.NoError(t, err)
			for _, mt := range []string{"application/json", "application/vnd.kubernetes.protobuf"} {
				b, err := e.encoding(cur, mt, func() ([]byte, error) { encodes.Add(1); return []byte(mt), nil })
				require.NoError(t, err)
				require.Equal(t, mt, string(b))
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, decodes.Load())
	require.EqualValues(t, 2, encodes.Load())
	require.NotSame(t, c.get(podGVK, "/registry/pods/default/a", 7, 100), c.get(podGVK, "/registry/pods/default/a", 8, 100), "another revision")
	require.NotSame(t, c.get(podGVK, "/registry/pods/default/a", 7, 100),
		c.get(corev1.SchemeGroupVersion.WithKind("Event"), "/registry/pods/default/a", 7, 100), "another type")
}

// TestSharedEventsBounds: the oldest events go first, by count and by bytes.
func TestSharedEventsBounds(t *testing.T) {
	var c sharedEvents
	first := c.get(podGVK, "k", 1, 10)
	for rev := int64(2); rev <= sharedEventsMax+5; rev++ {
		c.get(podGVK, "k", rev, 10)
		require.LessOrEqual(t, len(c.entries), sharedEventsMax)
		require.LessOrEqual(t, len(c.order), 2*sharedEventsMax, "the queue is compacted")
	}
	require.Len(t, c.entries, sharedEventsMax)
	require.Equal(t, sharedEventsMax*10, c.bytes)
	require.NotSame(t, first, c.get(podGVK, "k", 1, 10), "evicted: a new entry")

	var b sharedEvents
	big := sharedEventsMaxBytes / 4
	for rev := int64(1); rev <= 10; rev++ {
		b.get(podGVK, "k", rev, big)
		require.LessOrEqual(t, b.bytes, sharedEventsMaxBytes)
	}
	require.Len(t, b.entries, 4)
	huge := b.get(podGVK, "k", 11, 2*sharedEventsMaxBytes)
	require.NotNil(t, huge, "an event over the budget is still shared while it is the newest")
	require.Len(t, b.entries, 1)
}
