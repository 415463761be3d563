package serviceaccount_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/serviceaccount"
)

func TestDefaultServiceAccount(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs, Controllers: []string{serviceaccount.Name}})
	require.NoError(t, err)
	require.NoError(t, serviceaccount.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	for _, ns := range []string{"default", "kube-system", "team-a"} {
		t.Run(ns, func(t *testing.T) {
			if ns == "team-a" {
				_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			controllertest.Eventually(t, 10*time.Second, "default sa in "+ns, func() (bool, error) {
				_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
				return err == nil, nil
			})
		})
	}
	require.NoError(t, cs.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}))
	controllertest.Eventually(t, 10*time.Second, "recreated", func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	m, _ := controller.NewManager(controller.ManagerOptions{Client: s.Client})
	_ = serviceaccount.Register(m)
	fmt.Println(m.EnabledNames())
	// Output: [serviceaccount]
}
