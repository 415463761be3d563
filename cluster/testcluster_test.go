package cluster_test

import (
	"context"
	"testing"
	"time"

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
			c := cluster.StartTestCluster(t, cluster.TestClusterOptions{Nodes: 3, RBAC: rbac})
			ctx := context.Background()
			labels := map[string]string{"app": "web"}
			_, err := c.Client.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
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
			deadline := time.Now().Add(time.Minute)
			for {
				pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
				if err != nil {
					t.Fatal(err)
				}
				nodes := map[string]int{}
				running := 0
				for _, p := range pods.Items {
					if p.Status.Phase == corev1.PodRunning {
						running++
						nodes[p.Spec.NodeName]++
					}
				}
				if running == 6 && nodes["node-1"] == 2 && nodes["node-2"] == 2 && nodes["node-3"] == 2 {
					return
				}
				if time.Now().After(deadline) {
					ns, _ := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
					for _, n := range ns.Items {
						t.Logf("node %s: taints %v unschedulable %v allocatable %v", n.Name, n.Spec.Taints, n.Spec.Unschedulable, n.Status.Allocatable)
					}
					t.Fatalf("after a minute: %d of 6 pods Running, on nodes %v; want all, two per node", running, nodes)
				}
				time.Sleep(20 * time.Millisecond)
			}
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
