package nodeagent_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// TestNodeCapacity: the node reports cpu, memory, pods and, as the
// kubelet does, ephemeral-storage - the size of the filesystem of its root
// directory (made later: the nearest existing parent counts) - so that pods
// requesting ephemeral storage can be scheduled; Options.Capacity wins.
func TestNodeCapacity(t *testing.T) {
	parent := t.TempDir()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(parent, &st))
	want := resource.NewQuantity(int64(st.Blocks*uint64(st.Bsize)), resource.BinarySI)

	n := startFakeNode(t, fake.Options{}, func(o *nodeagent.Options) {
		o.RootDir = filepath.Join(parent, "not", "made", "yet")
		o.Capacity = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("20")}
	})
	var node *corev1.Node
	n.eventually("node registered with its capacity", func() bool {
		var err error
		node, err = n.admin.CoreV1().Nodes().Get(n.ctx, "n1", metav1.GetOptions{})
		return err == nil && len(node.Status.Capacity) > 0
	})
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q := node.Status.Capacity[name]
		require.Positive(t, q.Value(), name)
	}
	got := node.Status.Capacity[corev1.ResourceEphemeralStorage]
	require.Zero(t, want.Cmp(got), "ephemeral-storage %s, want %s", got.String(), want.String())
	alloc := node.Status.Allocatable[corev1.ResourceEphemeralStorage]
	require.Zero(t, want.Cmp(alloc))
	pods := node.Status.Capacity[corev1.ResourcePods]
	require.EqualValues(t, 20, pods.Value(), "Options.Capacity overrides")
}

// TestPodConditions: a running pod reports the kubelet's
// PodReadyToStartContainers condition (its sandbox is up) next to
// Initialized, ContainersReady and Ready; a finished one says why it is
// not ready as kubectl describe shows it (PodCompleted).
func TestPodConditions(t *testing.T) {
	n := startFakeNode(t, fake.Options{Images: []string{"app:1"}}, nil)
	_, err := n.admin.CoreV1().Pods("default").Create(n.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("the pod runs", func() bool { return n.pod("web").Status.Phase == corev1.PodRunning })
	got := map[corev1.PodConditionType]corev1.ConditionStatus{}
	for _, c := range n.pod("web").Status.Conditions {
		got[c.Type] = c.Status
	}
	require.Equal(t, map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodReadyToStartContainers: corev1.ConditionTrue,
		corev1.PodInitialized:            corev1.ConditionTrue,
		corev1.ContainersReady:           corev1.ConditionTrue,
		corev1.PodReady:                  corev1.ConditionTrue,
	}, got)

	_, err = n.admin.CoreV1().Pods("default").Create(n.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "once"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("the pod runs", func() bool { return n.pod("once").Status.Phase == corev1.PodRunning })
	for _, c := range n.containers("once", runtime.ContainerRunning) {
		require.NoError(t, n.rt.StopContainer(n.ctx, c.ID, 0))
	}
	n.eventually("the pod completes", func() bool { return n.pod("once").Status.Phase != corev1.PodRunning })
	for _, c := range n.pod("once").Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			require.Equal(t, corev1.ConditionFalse, c.Status, c.Type)
			require.Equal(t, "PodCompleted", c.Reason, c.Type)
		}
	}

	_, err = n.admin.CoreV1().Pods("default").Create(n.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "missing"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "nope:1", ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("the pod says why it is not ready", func() bool {
		for _, c := range n.pod("missing").Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionFalse && c.Reason == "ContainersNotReady" &&
					c.Message == "containers with unready status: [app]"
			}
		}
		return false
	})
}
