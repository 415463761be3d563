package garbagecollector_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/garbagecollector"
)

const wait = 20 * time.Second

func start(t *testing.T) kubernetes.Interface {
	s := controllertest.Start(t, apiserver.Options{})
	dyn, err := dynamic.NewForConfig(s.Config)
	require.NoError(t, err)
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client, Dynamic: dyn})
	require.NoError(t, err)
	require.NoError(t, garbagecollector.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return s.Client
}

func cm(t *testing.T, cs kubernetes.Interface, name string, owners ...*corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, o := range owners {
		c.OwnerReferences = append(c.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "ConfigMap", Name: o.Name, UID: o.UID, BlockOwnerDeletion: ptr.To(true),
		})
	}
	out, err := cs.CoreV1().ConfigMaps("default").Create(context.Background(), c, metav1.CreateOptions{})
	require.NoError(t, err)
	return out
}

func gone(cs kubernetes.Interface, name string) bool {
	_, err := cs.CoreV1().ConfigMaps("default").Get(context.Background(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

func TestPropagation(t *testing.T) {
	cs := start(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		policy *metav1.DeletionPropagation
		// depsGone: the dependents are deleted; otherwise orphaned.
		depsGone bool
	}{
		{"background", ptr.To(metav1.DeletePropagationBackground), true},
		{"default", nil, true},
		{"foreground", ptr.To(metav1.DeletePropagationForeground), true},
		{"orphan", ptr.To(metav1.DeletePropagationOrphan), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner := cm(t, cs, tt.name)
			child := cm(t, cs, tt.name+"-child", owner)
			grandchild := cm(t, cs, tt.name+"-grandchild", child)
			require.NoError(t, cs.CoreV1().ConfigMaps("default").Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: tt.policy}))
			controllertest.Eventually(t, wait, "owner gone", func() (bool, error) { return gone(cs, owner.Name), nil })
			if tt.depsGone {
				controllertest.Eventually(t, wait, "dependents gone", func() (bool, error) {
					return gone(cs, child.Name) && gone(cs, grandchild.Name), nil
				})
				return
			}
			controllertest.Eventually(t, wait, "orphaned", func() (bool, error) {
				c, err := cs.CoreV1().ConfigMaps("default").Get(ctx, child.Name, metav1.GetOptions{})
				return err == nil && len(c.OwnerReferences) == 0, err
			})
			require.False(t, gone(cs, grandchild.Name))
		})
	}
}

func TestForegroundWaitsForBlockingDependents(t *testing.T) {
	cs := start(t)
	ctx := context.Background()
	owner := cm(t, cs, "fg")
	child := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fg-child", Finalizers: []string{"example.com/hold"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: ptr.To(true)}}}}
	_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, child, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, cs.CoreV1().ConfigMaps("default").Delete(ctx, owner.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)}))
	controllertest.Eventually(t, wait, "child being deleted", func() (bool, error) {
		c, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "fg-child", metav1.GetOptions{})
		return err == nil && c.DeletionTimestamp != nil, err
	})
	o, err := cs.CoreV1().ConfigMaps("default").Get(ctx, owner.Name, metav1.GetOptions{})
	require.NoError(t, err, "owner must wait for its blocking dependent")
	require.Contains(t, o.Finalizers, metav1.FinalizerDeleteDependents)
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "fg-child", metav1.GetOptions{})
		if err != nil {
			return err
		}
		c.Finalizers = slices.DeleteFunc(c.Finalizers, func(f string) bool { return f == "example.com/hold" })
		_, err = cs.CoreV1().ConfigMaps("default").Update(ctx, c, metav1.UpdateOptions{})
		return err
	}))
	controllertest.Eventually(t, wait, "owner gone", func() (bool, error) { return gone(cs, owner.Name), nil })
}

func TestDependentWithTwoOwnersKeepsTheLiveOne(t *testing.T) {
	cs := start(t)
	ctx := context.Background()
	a, b := cm(t, cs, "a"), cm(t, cs, "b")
	d := cm(t, cs, "shared", a, b)
	require.NoError(t, cs.CoreV1().ConfigMaps("default").Delete(ctx, "a", metav1.DeleteOptions{}))
	controllertest.Eventually(t, wait, "dangling owner dropped", func() (bool, error) {
		c, err := cs.CoreV1().ConfigMaps("default").Get(ctx, d.Name, metav1.GetOptions{})
		return err == nil && len(c.OwnerReferences) == 1 && c.OwnerReferences[0].UID == b.UID, err
	})
	// A dependent whose owner never existed (wrong UID) is collected.
	cm(t, cs, "stray", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", UID: "not-b"}})
	controllertest.Eventually(t, wait, "stray collected", func() (bool, error) { return gone(cs, "stray"), nil })
}
