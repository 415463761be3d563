package namespace_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/namespace"
)

func TestDeleteNamespaceDeletesContentsThenNamespace(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	dyn, err := dynamic.NewForConfig(s.Config)
	require.NoError(t, err)
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs, Dynamic: dyn})
	require.NoError(t, err)
	require.NoError(t, namespace.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().ConfigMaps("doomed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods("doomed").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.AppsV1().Deployments("doomed").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"a": "b"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// An unrelated namespace keeps its contents.
	_, err = cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}))
	controllertest.Eventually(t, 20*time.Second, "namespace gone", func() (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	for _, check := range []func() error{
		func() error {
			_, err := cs.CoreV1().ConfigMaps("doomed").Get(ctx, "cm", metav1.GetOptions{})
			return err
		},
		func() error { _, err := cs.CoreV1().Pods("doomed").Get(ctx, "p", metav1.GetOptions{}); return err },
		func() error {
			_, err := cs.AppsV1().Deployments("doomed").Get(ctx, "d", metav1.GetOptions{})
			return err
		},
	} {
		require.True(t, apierrors.IsNotFound(check()))
	}
	_, err = cs.CoreV1().ConfigMaps("default").Get(ctx, "keep", metav1.GetOptions{})
	require.NoError(t, err)
}
