package cluster_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/cluster"
)

// TestDefaultTolerationSecondsInMaster: masters run DefaultTolerationSeconds
// after Priority (kube-apiserver's order): a pod created without
// tolerations of a lost node gets them for 300 s; one tolerating
// everything gets none.
func TestDefaultTolerationSecondsInMaster(t *testing.T) {
	t.Parallel()
	plugins := cluster.AdmissionPlugins()
	require.Equal(t, slices.Index(plugins, "Priority")+1, slices.Index(plugins, "DefaultTolerationSeconds"))

	m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
	cfg := rest.CopyConfig(m.Config)
	cfg.QPS = -1
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	create := func(name string, tols ...corev1.Toleration) *corev1.Pod {
		p, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Tolerations: tols, Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		return p
	}
	require.Equal(t, []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}, create("plain").Spec.Tolerations)
	all := corev1.Toleration{Operator: corev1.TolerationOpExists}
	require.Equal(t, []corev1.Toleration{all}, create("tolerant", all).Spec.Tolerations)
}
