package nodeagent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/images"
)

// TestVolumesOnDocker: containers read a config map file and a secret file
// and share an emptyDir; a config map update reaches the running
// container; the volumes go with the pod.
func TestVolumesOnDocker(t *testing.T) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("needs root for Docker")
	}
	node := "node-" + rand.String(6)
	cs := apiServer(t)
	rt := dockerRuntime(t, node)
	root := t.TempDir()
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: node, Client: cs, Runtime: rt, RootDir: root,
		SyncInterval: 300 * time.Millisecond, BackOff: 200 * time.Millisecond, MaxBackOff: time.Second,
	})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx) }()
	// Cleanups run last-in first-out: the agent stops, then dockerRuntime's
	// cleanup removes the containers, then nothing is left mounted below
	// root.
	t.Cleanup(func() { require.NoError(t, nodeagent.UnmountAll(root)) })
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	ctx := context.Background()

	_, err = cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "web-config"}, Data: map[string]string{"greeting": "hello"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "web-secret"}, Data: map[string][]byte{"password": []byte("s3cret")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: "/etc/web"},
		{Name: "secret", MountPath: "/etc/secret"},
		{Name: "shared", MountPath: "/shared"},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: ptr.To(int64(1)),
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "web-secret"}}},
				{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			},
			Containers: []corev1.Container{
				{
					Name: "writer", Image: images.Busybox, ImagePullPolicy: corev1.PullNever,
					Command:      []string{"sh", "-c", "echo from-writer > /shared/note; sleep 3600"},
					VolumeMounts: mounts,
				},
				{
					Name: "reader", Image: images.Busybox, ImagePullPolicy: corev1.PullNever,
					Command: []string{"sleep", "3600"},
					VolumeMounts: append(mounts,
						corev1.VolumeMount{Name: "mem", MountPath: "/mem"},
						corev1.VolumeMount{Name: "config", MountPath: "/greeting.txt", SubPath: "greeting"},
						corev1.VolumeMount{Name: "shared", MountPath: "/deep", SubPath: "made/on/demand"},
					),
				},
			},
		},
	}
	pods := cs.CoreV1().Pods("default")
	_, err = pods.Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the pod to run", time.Minute, func() (bool, error) {
		p, err := pods.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning, fmt.Errorf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	uid := func() string {
		p, err := pods.Get(ctx, "web", metav1.GetOptions{})
		require.NoError(t, err)
		return string(p.UID)
	}()
	reader := func() string {
		cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{State: runtime.ContainerRunning,
			Labels: map[string]string{runtime.LabelPodUID: uid, runtime.LabelContainerName: "reader"}})
		require.NoError(t, err)
		require.Len(t, cs, 1)
		return cs[0].ID
	}()
	// inReader runs a shell command in the reader container.
	inReader := func(script string) (string, error) {
		var out, errOut bytes.Buffer
		code, err := rt.Exec(ctx, reader, runtime.ExecOptions{Cmd: []string{"sh", "-c", script}, Stdout: &out, Stderr: &errOut})
		if err == nil && code != 0 {
			err = fmt.Errorf("exit code %d: %s", code, errOut.String())
		}
		return out.String(), err
	}

	waitFor(t, "the reader to see the files", 30*time.Second, func() (bool, error) {
		out, err := inReader("cat /etc/web/greeting; echo; cat /etc/secret/password; echo; cat /shared/note")
		return out == "hello\ns3cret\nfrom-writer\n", fmt.Errorf("%q: %v", out, err)
	})
	out, err := inReader("touch /etc/web/x 2>&1 || echo read-only")
	require.NoError(t, err)
	require.Contains(t, out, "read-only", "config map volumes are read-only")
	out, err = inReader("grep ' /mem ' /proc/mounts")
	require.NoError(t, err)
	require.Contains(t, out, "tmpfs", "a memory-backed emptyDir is a tmpfs")

	out, err = inReader("cat /greeting.txt; echo; touch /deep/x && ls /shared/made/on/demand")
	require.NoError(t, err)
	require.Equal(t, "hello\nx\n", out, "subPaths of a file and of a directory made on demand")

	cm, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "web-config", metav1.GetOptions{})
	require.NoError(t, err)
	cm.Data["greeting"] = "bonjour"
	_, err = cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	waitFor(t, "the update to reach the container", 30*time.Second, func() (bool, error) {
		out, err := inReader("cat /etc/web/greeting")
		return out == "bonjour", fmt.Errorf("%q: %v", out, err)
	})
	out, err = inReader("cat /greeting.txt")
	require.NoError(t, err)
	require.Equal(t, "hello", out, "as in Kubernetes, a subPath mount keeps the content it started with")

	require.NoError(t, pods.Delete(ctx, "web", metav1.DeleteOptions{}))
	podDir := filepath.Join(root, "pods", uid)
	waitFor(t, "the pod's volumes to go", time.Minute, func() (bool, error) {
		_, err := os.Stat(podDir)
		return errors.Is(err, os.ErrNotExist), err
	})
}
