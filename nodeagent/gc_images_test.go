package nodeagent_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime/fake"
)

// TestImageGarbageCollection: above the high threshold, unused images go,
// least recently used first, but not those in use, pinned or used less
// than ImageMinimumGCAge ago; below it nothing goes.
func TestImageGarbageCollection(t *testing.T) {
	const mib = 1 << 20 // the fake runtime's images are 1 MiB each
	var available atomic.Uint64
	available.Store(50 * mib) // of 100 MiB: 50% used
	n := startFakeNodeWith(t, fake.Options{Images: []string{"app:1", "app:2", "old:1", "pause:1"}},
		func(o *nodeagent.Options) {
			o.ImageFSPath = "/var/lib/fake"
			o.ContainerGCInterval = 10 * time.Second
			o.ImageMinimumGCAge = time.Minute
			o.PinnedImages = []string{"pause:1"}
			o.ImageGCHighThresholdPercent, o.ImageGCLowThresholdPercent = 80, 80
		},
		func(a *nodeagent.Agent) {
			nodeagent.SetImageFSUsage(a, func(string) (uint64, uint64, error) { return 100 * mib, available.Load(), nil })
		})
	_, err := n.admin.CoreV1().Pods("default").Create(n.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("the pod runs", func() bool { return n.pod("web").Status.Phase == corev1.PodRunning })
	images := func() []string {
		imgs, err := n.rt.ListImages(n.ctx)
		require.NoError(t, err)
		var tags []string
		for _, img := range imgs {
			tags = append(tags, img.RepoTags...)
		}
		slices.Sort(tags)
		return tags
	}
	all := []string{"app:1", "app:2", "old:1", "pause:1"}
	// Below the threshold nothing goes, however old.
	for range 5 {
		n.clk.Step(time.Minute)
	}
	require.Never(t, func() bool { return len(images()) < 4 }, 200*time.Millisecond, 20*time.Millisecond)

	// 81% used: one unused image (1 MiB) brings it to the low threshold.
	available.Store(19 * mib)
	n.eventually("one unused image goes", func() bool { return len(images()) == 3 })
	left := images()
	require.Contains(t, left, "app:1", "in use")
	require.Contains(t, left, "pause:1", "pinned")
	require.Subset(t, all, left)
	available.Store(10 * mib) // 90%: every unused image goes
	n.eventually("every unused image goes", func() bool { return len(images()) == 2 })
	require.Equal(t, []string{"app:1", "pause:1"}, images())
}

// TestImageGarbageCollectionMinimumAge: an image first seen (or last used)
// less than ImageMinimumGCAge ago stays, even on a full disk.
func TestImageGarbageCollectionMinimumAge(t *testing.T) {
	n := startFakeNodeWith(t, fake.Options{Images: []string{"old:1"}},
		func(o *nodeagent.Options) {
			o.ImageFSPath = "/var/lib/fake"
			o.ContainerGCInterval = 10 * time.Second
			o.ImageMinimumGCAge = time.Hour
		},
		func(a *nodeagent.Agent) {
			nodeagent.SetImageFSUsage(a, func(string) (uint64, uint64, error) { return 100, 1, nil })
		})
	count := func() int {
		imgs, err := n.rt.ListImages(n.ctx)
		require.NoError(t, err)
		return len(imgs)
	}
	for range 50 { // 50 minutes
		n.clk.Step(time.Minute)
	}
	require.Never(t, func() bool { return count() == 0 }, 200*time.Millisecond, 20*time.Millisecond, "younger than an hour")
	n.eventually("an hour later it goes", func() bool {
		n.clk.Step(time.Minute)
		return count() == 0
	})
}
