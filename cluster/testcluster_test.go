package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/cluster"
)

// TestStartTestCluster runs a deployment on an in-process cluster of three
// nodes: the controllers make the pods, the scheduler spreads them, the
// node agents run them (a topology spread constraint puts two on each) -
// two clusters in parallel, with and without RBAC.
func TestStartTestCluster(t *testing.T) {
	for _, rbac := range []bool{false, true} {
		t.Run(map[bool]string{false: "open", true: "rbac"}[rbac], func(t *testing.T) {
			t.Parallel()
			tc := cluster.StartTestCluster(t, cluster.TestClusterOptions{Nodes: 3, RBAC: rbac})
			ctx := context.Background()
			labels := map[string]string{"app": "web"}
			_, err := tc.Client.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: appsv1.DeploymentSpec{
					Replicas: ptr.To[int32](6),
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: corev1.PodSpec{
							Containers: []corev1.Container{{Name: "web", Image: "gantry.local/echo:1.0"}},
							// One replica per node at most ahead of the others.
							TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
								MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
								WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
							}},
						},
					},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				pods, err := tc.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
				if !assert.NoError(c, err) {
					return
				}
				nodes := map[string]int{}
				running := 0
				for _, p := range pods.Items {
					if p.Status.Phase == corev1.PodRunning {
						running++
						nodes[p.Spec.NodeName]++
					}
				}
				assert.Equal(c, 6, running, "pods Running")
				assert.Equal(c, map[string]int{"node-1": 2, "node-2": 2, "node-3": 2}, nodes, "Running pods per node")
			}, time.Minute, 20*time.Millisecond, "want all six pods Running, two per node")
		})
	}
}

// BenchmarkStartTestCluster measures StartTestCluster (master, scheduler,
// controllers and three Ready nodes) against StartTestMaster alone in the
// same run; the goal is under 100 ms.
func BenchmarkStartTestCluster(b *testing.B) {
	var master, whole time.Duration
	for b.Loop() {
		tb := &loopTB{TB: b}
		start := time.Now()
		cluster.StartTestMaster(tb)
		master += time.Since(start)
		b.StopTimer()
		tb.runCleanups()
		b.StartTimer()

		tb = &loopTB{TB: b}
		start = time.Now()
		cluster.StartTestCluster(tb, cluster.TestClusterOptions{Nodes: 3})
		whole += time.Since(start)
		b.StopTimer()
		tb.runCleanups()
		b.StartTimer()
	}
	b.ReportMetric(float64(whole.Milliseconds())/float64(b.N), "ms/cluster")
	b.ReportMetric(float64(master.Milliseconds())/float64(b.N), "ms/master")
	b.ReportMetric(float64(whole)/float64(master), "ratio-to-master")
}
