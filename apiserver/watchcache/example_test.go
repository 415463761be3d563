package watchcache_test

import (
	"context"
	"fmt"
	"log"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver/watchcache"
	"github.com/gantryhq/gantry/store/memory"
)

// Keep the pods of the store in memory, indexed by node.
func ExampleNew() {
	st := memory.New(memory.Options{})
	defer st.Close()
	pods, err := watchcache.New(watchcache.Options[corev1.Pod]{
		Store: st, Resource: "pods", Namespaced: true,
		Index: func(p *corev1.Pod) []string { return []string{p.Spec.NodeName} },
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pods.Run(ctx)
	if err := pods.WaitForSync(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(pods.ByIndex("node-1")))
	// Output: 0
}
