package controller_test

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
)

// A controller that logs every ConfigMap it sees, fed by a shared informer.
func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	seen := make(chan string, 1)
	c, err := controller.New(controller.Options{
		Name: "configmap-printer",
		Reconciler: controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
			seen <- req.String()
			return controller.Result{}, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	f := informers.NewSharedInformerFactory(s.Client, 0)
	_ = c.Watch(f.Core().V1().ConfigMaps().Informer(), controller.ForObject())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	go func() { _ = c.Start(ctx) }()
	_, _ = s.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hello"}}, metav1.CreateOptions{})
	fmt.Println(<-seen)
	// Output: default/hello
}

// A Manager selects controllers like kube-controller-manager's
// --controllers flag and serves /healthz and /metrics.
func ExampleNewManager() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	m, err := controller.NewManager(controller.ManagerOptions{
		Client:      s.Client,
		Controllers: []string{"*", "-noisy"},
		Address:     "127.0.0.1:0", // ":10257" in a cluster
	})
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"quiet", "noisy"} {
		_ = m.Register(controller.Registration{Name: name, Setup: func(ctx context.Context, m *controller.Manager) (controller.Runnable, error) {
			return controller.RunnableFunc(func(ctx context.Context) error { <-ctx.Done(); return nil }), nil
		}})
	}
	fmt.Println(m.EnabledNames())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Start(ctx) }()
	for !m.IsLeader() {
		<-time.After(time.Millisecond)
	}
	cancel()
	fmt.Println(<-done)
	// Output:
	// [quiet]
	// <nil>
}
