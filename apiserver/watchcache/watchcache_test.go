package watchcache_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver/watchcache"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

func put(t *testing.T, st store.Store, ns, name, node string) {
	t.Helper()
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	b, _ := json.Marshal(p)
	key := store.ObjectKey("pods", ns, name)
	if _, err := st.Create(context.Background(), key, b, store.WriteOptions{}); err != nil {
		kv, _ := st.Get(context.Background(), key)
		if _, err := st.Update(context.Background(), key, b, kv.ModRevision, store.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, time.Millisecond, "timed out: %s", what)
}

func TestCache(t *testing.T) {
	st := memory.New(memory.Options{})
	defer st.Close()
	put(t, st, "a", "p1", "n1")
	put(t, st, "b", "p2", "n1")
	c, err := watchcache.New(watchcache.Options[corev1.Pod]{
		Store: st, Resource: "pods", Namespaced: true, RetryInterval: time.Millisecond,
		Index: func(p *corev1.Pod) []string { return []string{p.Spec.NodeName} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := c.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if p, ok := c.Get("a", "p1"); !ok || p.Spec.NodeName != "n1" {
		t.Fatalf("Get(a, p1) = %v, %v", p, ok)
	}
	if n := len(c.ByIndex("n1")); n != 2 {
		t.Fatalf("ByIndex(n1) has %d pods, want 2", n)
	}

	put(t, st, "a", "p1", "n2") // moves between index values
	eventually(t, "p1 on n2", func() bool { return len(c.ByIndex("n2")) == 1 && len(c.ByIndex("n1")) == 1 })
	if _, err := st.Delete(ctx, store.ObjectKey("pods", "b", "p2"), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "p2 gone", func() bool {
		_, ok := c.Get("b", "p2")
		return !ok && len(c.ByIndex("n1")) == 0 && len(c.List("b")) == 0
	})
	if got := c.List("a"); len(got) != 1 || got[0].Name != "p1" {
		t.Errorf("List(a) = %v", got)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := watchcache.New(watchcache.Options[corev1.Pod]{Resource: "pods"}); err == nil {
		t.Error("no store: no error")
	}
}
