package nodeagent

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestMemoryEmptyDirIsATmpfs(t *testing.T) {
	if !canMount() {
		t.Skip("needs root to mount a tmpfs")
	}
	root := t.TempDir()
	m := newVolumeManager(root, fake.NewClientset(), clocktesting.NewFakeClock(t0), slog.Default(), nil, time.Second)
	limit := resource.MustParse("1Mi")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "mem-uid"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: &limit,
		}}}}},
	}
	t.Cleanup(func() { require.NoError(t, UnmountAll(root)) })
	paths, err := m.setUp(context.Background(), pod)
	require.NoError(t, err)
	dir := paths["mem"]
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	require.Equal(t, int64(unix.TMPFS_MAGIC), int64(st.Type))
	require.Equal(t, uint64(1<<20), st.Blocks*uint64(st.Bsize), "sizeLimit bounds the tmpfs")
	// A second set-up (the periodic refresh) mounts nothing more.
	_, err = m.setUp(context.Background(), pod)
	require.NoError(t, err)
	mounts, err := mountPointsUnder(root)
	require.NoError(t, err)
	require.Equal(t, []string{dir}, mounts)

	require.NoError(t, m.tearDown(pod.UID))
	mounts, err = mountPointsUnder(root)
	require.NoError(t, err)
	require.Empty(t, mounts)
	_, err = os.Stat(filepath.Join(root, "pods", "mem-uid"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}
