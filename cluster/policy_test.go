package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver/rbac"
	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/resourcequota"
)

func policyPod(name string, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx",
			Resources: corev1.ResourceRequirements{Limits: limits}}}},
	}
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func createQuota(t *testing.T, cs kubernetes.Interface, ns, name string, hard corev1.ResourceList) {
	t.Helper()
	_, err := cs.CoreV1().ResourceQuotas(ns).Create(context.Background(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: hard},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func quotaUsed(t *testing.T, cs kubernetes.Interface, ns, name string, res corev1.ResourceName) string {
	t.Helper()
	q, err := cs.CoreV1().ResourceQuotas(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	v := q.Status.Used[res]
	return v.String()
}

// TestResourceQuotaInMaster: a master's API server enforces quotas (the
// denial names the quota and the resource, and changes nothing), never
// lets concurrent creates exceed one, does not charge dry runs, and the
// controller manager's identity may keep the quotas' status.
func TestResourceQuotaInMaster(t *testing.T) {
	t.Parallel()
	m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
	ctx := context.Background()
	cfg := rest.CopyConfig(m.Config)
	cfg.QPS = -1
	cs := kubernetes.NewForConfigOrDie(cfg)

	t.Run("denial", func(t *testing.T) {
		createNamespace(t, cs, "quota-denial")
		createQuota(t, cs, "quota-denial", "q1", corev1.ResourceList{"pods": resource.MustParse("2")})
		require.Equal(t, "0", quotaUsed(t, cs, "quota-denial", "q1", "pods"), "a new quota's usage is known at once")
		for _, name := range []string{"a", "b"} {
			_, err := cs.CoreV1().Pods("quota-denial").Create(ctx, policyPod(name, nil), metav1.CreateOptions{})
			require.NoError(t, err)
		}
		_, err := cs.CoreV1().Pods("quota-denial").Create(ctx, policyPod("c", nil), metav1.CreateOptions{})
		require.True(t, apierrors.IsForbidden(err), "%v", err)
		require.EqualError(t, err, `pods "c" is forbidden: exceeded quota: q1, requested: pods=1, used: pods=2, limited: pods=2`)
		_, err = cs.CoreV1().Pods("quota-denial").Get(ctx, "c", metav1.GetOptions{})
		require.True(t, apierrors.IsNotFound(err), "a denied pod is not stored: %v", err)
		require.Equal(t, "2", quotaUsed(t, cs, "quota-denial", "q1", "pods"))
	})

	t.Run("dry run", func(t *testing.T) {
		createNamespace(t, cs, "quota-dry")
		createQuota(t, cs, "quota-dry", "q", corev1.ResourceList{"pods": resource.MustParse("1")})
		for range 3 {
			_, err := cs.CoreV1().Pods("quota-dry").Create(ctx, policyPod("p", nil), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			require.NoError(t, err)
		}
		require.Equal(t, "0", quotaUsed(t, cs, "quota-dry", "q", "pods"))
	})

	t.Run("concurrent", func(t *testing.T) {
		createNamespace(t, cs, "quota-race")
		createQuota(t, cs, "quota-race", "q", corev1.ResourceList{"pods": resource.MustParse("5")})
		var admitted atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				_, err := cs.CoreV1().Pods("quota-race").Create(ctx, policyPod(fmt.Sprint("p", i), nil), metav1.CreateOptions{})
				switch {
				case err == nil:
					admitted.Add(1)
				case !apierrors.IsForbidden(err):
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.EqualValues(t, 5, admitted.Load())
		pods, err := cs.CoreV1().Pods("quota-race").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		require.Len(t, pods.Items, 5)
		require.Equal(t, "5", quotaUsed(t, cs, "quota-race", "q", "pods"))
	})

	t.Run("controller manager releases", func(t *testing.T) {
		createNamespace(t, cs, "quota-release")
		createQuota(t, cs, "quota-release", "q", corev1.ResourceList{"pods": resource.MustParse("1")})
		_, err := cs.CoreV1().Pods("quota-release").Create(ctx, policyPod("a", nil), metav1.CreateOptions{})
		require.NoError(t, err)

		// The controller runs as the controller manager: RBAC must let it.
		cmCfg := m.ConfigFor(rbac.ControllerManagerUser)
		cmCfg.QPS = -1
		cmClient := kubernetes.NewForConfigOrDie(cmCfg)
		mgr, err := controller.NewManager(controller.ManagerOptions{Client: cmClient, Dynamic: dynamic.NewForConfigOrDie(cmCfg),
			Controllers: []string{resourcequota.Name}})
		require.NoError(t, err)
		require.NoError(t, resourcequota.Register(mgr))
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- mgr.Start(cctx) }()
		defer func() { cancel(); require.NoError(t, <-done) }()

		require.NoError(t, cs.CoreV1().Pods("quota-release").Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
		require.Eventually(t, func() bool {
			_, err := cs.CoreV1().Pods("quota-release").Create(ctx, policyPod("b", nil), metav1.CreateOptions{})
			return err == nil
		}, 10*time.Second, 10*time.Millisecond, "the deleted pod's share was not released")
	})

	t.Run("roles", func(t *testing.T) {
		// As in Kubernetes, edit and admin may read quotas and limit
		// ranges but not change them.
		createNamespace(t, cs, "quota-roles")
		_, err := cs.RbacV1().RoleBindings("quota-roles").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "bob-admin"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		bob := kubernetes.NewForConfigOrDie(m.ConfigFor("bob"))
		eventually(t, func() error {
			_, err := bob.CoreV1().ResourceQuotas("quota-roles").List(ctx, metav1.ListOptions{})
			return err
		})
		_, err = bob.CoreV1().LimitRanges("quota-roles").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		_, err = bob.CoreV1().ResourceQuotas("quota-roles").Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
		require.True(t, apierrors.IsForbidden(err), "%v", err)
	})
}

// TestLimitRangerInMaster: a master's API server defaults the resources
// of new pods from the namespace's LimitRanges and rejects pods beyond
// their bounds with 403 naming the bound.
func TestLimitRangerInMaster(t *testing.T) {
	t.Parallel()
	m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
	ctx := context.Background()
	cs := m.Client
	createNamespace(t, cs, "limited")
	_, err := cs.CoreV1().LimitRanges("limited").Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	lr, err := cs.CoreV1().LimitRanges("limited").Get(ctx, "limits", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "1Gi", lr.Spec.Limits[0].Default.Memory().String(), "the default limit defaults to max")

	pod, err := cs.CoreV1().Pods("limited").Create(ctx, policyPod("web", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	r := pod.Spec.Containers[0].Resources
	require.Equal(t, "500m", r.Limits.Cpu().String())
	require.Equal(t, "250m", r.Requests.Cpu().String())
	require.Equal(t, "1Gi", r.Limits.Memory().String())
	require.Equal(t, "1Gi", r.Requests.Memory().String())

	_, err = cs.CoreV1().Pods("limited").Create(ctx, policyPod("big", corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}), metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2 (container "web", LimitRange "limits")`)
	_, err = cs.CoreV1().Pods("limited").Get(ctx, "big", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))

	// Other namespaces are not limited.
	pod, err = cs.CoreV1().Pods("default").Create(ctx, policyPod("free", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Empty(t, pod.Spec.Containers[0].Resources.Limits)
}
