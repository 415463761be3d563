package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store/memory"
)

// TestSwap runs the program against an in-process API server: pods naming
// "most-pods" all land on the node that already has the most pods.
func TestSwap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := memory.New(memory.Options{})
	defer st.Close()
	srv, err := apiserver.New(apiserver.Options{Store: st})
	require.NoError(t, err)
	require.NoError(t, srv.EnsureSystemObjects(ctx))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cs := kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL, QPS: -1})
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	for _, name := range []string{"n1", "n2", "n3"} {
		n, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		require.NoError(t, err)
		n.Status = corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}
		_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+hs.URL+`"}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--kubeconfig", kc, "--scheduler-name", "most-pods", "--healthz-bind-address", ""})
	}()
	for i := 0; i < 3; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "p-"}, Spec: corev1.PodSpec{
			SchedulerName: "most-pods",
			Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
		}}
		_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	nodes := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		clear(nodes)
		for _, p := range list.Items {
			nodes[p.Spec.NodeName]++
		}
		if nodes[""] == 0 {
			break
		}
		<-time.After(20 * time.Millisecond)
	}
	require.Len(t, nodes, 1, "all pods on one node: %v", nodes)
	for n, c := range nodes {
		require.NotEmpty(t, n)
		require.Equal(t, 3, c)
	}
	cancel()
	require.NoError(t, <-done)
}
