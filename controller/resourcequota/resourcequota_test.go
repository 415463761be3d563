package resourcequota_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/gantryhq/gantry/apiserver"
	admission "github.com/gantryhq/gantry/apiserver/admission/resourcequota"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/resourcequota"
	"github.com/gantryhq/gantry/store/memory"
)

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
}

// TestReleaseAndRepair: with the admission plugin charging and the
// controller recomputing, deletes and finished pods release usage, and a
// wrong status is repaired at the next resync.
func TestReleaseAndRepair(t *testing.T) {
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	plugin, err := admission.New(admission.Options{Store: st})
	require.NoError(t, err)
	s := apiservertest.Start(t, apiserver.Options{Store: st, Admission: []any{plugin}})
	cs := s.Client
	dyn, err := dynamic.NewForConfig(s.Config)
	require.NoError(t, err)
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs, Dynamic: dyn, Controllers: []string{resourcequota.Name}})
	require.NoError(t, err)
	f := m.InformerFactory().Core().V1()
	c, err := resourcequota.New(resourcequota.Options{
		Client: cs, Dynamic: dyn, Quotas: f.ResourceQuotas(), Pods: f.Pods(), Services: f.Services(),
		ConfigMaps: f.ConfigMaps(), Secrets: f.Secrets(), ReplicationControllers: f.ReplicationControllers(),
		ResyncPeriod: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, m.Register(controller.Registration{Name: resourcequota.Name,
		Setup: func(context.Context, *controller.Manager) (controller.Runnable, error) { return c, nil }}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	ns := "default"
	_, err = cs.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			"pods": resource.MustParse("2"), "configmaps": resource.MustParse("1"), "count/deployments.apps": resource.MustParse("5"),
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, name := range []string{"a", "b"} {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod(name), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err = cs.CoreV1().Pods(ns).Create(ctx, pod("c"), metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2")

	// A deleted pod releases its share.
	require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, "a", metav1.DeleteOptions{}))
	controllertest.Eventually(t, 10*time.Second, "pod c admitted after a delete", func() (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod("c"), metav1.CreateOptions{})
		return err == nil, nil
	})

	// A finished pod too.
	b, err := cs.CoreV1().Pods(ns).Get(ctx, "b", metav1.GetOptions{})
	require.NoError(t, err)
	b.Status.Phase = corev1.PodSucceeded
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, b, metav1.UpdateOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, 10*time.Second, "pod d admitted after b finished", func() (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod("d"), metav1.CreateOptions{})
		return err == nil, nil
	})

	// Config maps are released on delete as well.
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "one"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "two"}}, metav1.CreateOptions{})
	require.ErrorContains(t, err, "exceeded quota: q, requested: configmaps=1, used: configmaps=1, limited: configmaps=1")
	require.NoError(t, cs.CoreV1().ConfigMaps(ns).Delete(ctx, "one", metav1.DeleteOptions{}))
	controllertest.Eventually(t, 10*time.Second, "config map two admitted", func() (bool, error) {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "two"}}, metav1.CreateOptions{})
		return err == nil, nil
	})

	// Drift is repaired at the next resync.
	q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
	require.NoError(t, err)
	q.Status.Used["pods"] = resource.MustParse("2")
	_, err = cs.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, 10*time.Second, "usage repaired", func() (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, deps := q.Status.Used["pods"], q.Status.Used["count/deployments.apps"]
		return pods.Value() == 2 && deps.Value() == 0, nil // c and d run; b finished
	})

	// A new limit in spec.hard is counted at once.
	q, err = cs.CoreV1().ResourceQuotas(ns).Get(ctx, "q", metav1.GetOptions{})
	require.NoError(t, err)
	q.Spec.Hard["count/pods"] = resource.MustParse("10")
	q, err = cs.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{})
	require.NoError(t, err)
	n := q.Status.Used["count/pods"]
	require.Equal(t, int64(3), n.Value(), "count/pods counts finished pods too")
}

func TestNew(t *testing.T) {
	_, err := resourcequota.New(resourcequota.Options{})
	require.Error(t, err)
}
