package nodeagent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/images"
)

// TestStaticPodOnDocker: a manifest in the node's manifest directory runs
// on Docker and its mirror pod appears in the API server (created with the
// node's own identity, through the node authorizer and NodeRestriction);
// when the file goes, the container's preStop hook writes a file into a
// hostPath volume before the container stops, and the mirror pod goes.
func TestStaticPodOnDocker(t *testing.T) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("needs root for Docker")
	}
	node := "node-" + rand.String(6)
	srv := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
	nodeClient, err := kubernetes.NewForConfig(srv.ConfigFor("system:node:"+node, "system:nodes"))
	require.NoError(t, err)
	rt := dockerRuntime(t, node)
	manifests, out, root := t.TempDir(), t.TempDir(), t.TempDir()
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  terminationGracePeriodSeconds: 5
  volumes:
  - name: out
    hostPath: {path: %q, type: Directory}
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: [sleep, "3600"]
    volumeMounts:
    - {name: out, mountPath: /out}
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo started > /out/poststart"]}
      preStop:
        exec: {command: [sh, -c, "echo stopping > /out/prestop"]}
`, out, images.Busybox)
	manifestFile := filepath.Join(manifests, "static-web.yaml")
	require.NoError(t, os.WriteFile(manifestFile, []byte(manifest), 0o644))

	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: node, Client: nodeClient, Runtime: rt, RootDir: root,
		PodManifestPath: manifests, FileCheckFrequency: 200 * time.Millisecond,
		SyncInterval: 300 * time.Millisecond, BackOff: 200 * time.Millisecond, MaxBackOff: time.Second,
	})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx) }()
	t.Cleanup(func() { require.NoError(t, nodeagent.UnmountAll(root)) })
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	ctx := context.Background()

	pods := srv.Client.CoreV1().Pods("default")
	name := "static-web-" + node
	waitFor(t, "the mirror pod to show the static pod running", time.Minute, func() (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning && p.Annotations[corev1.MirrorPodAnnotationKey] != "",
			fmt.Errorf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{State: runtime.ContainerRunning,
		Labels: map[string]string{runtime.LabelPodName: name}})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	got, err := os.ReadFile(filepath.Join(out, "poststart"))
	require.NoError(t, err, "the postStart hook ran")
	require.Equal(t, "started\n", string(got))
	_, err = os.Stat(filepath.Join(out, "prestop"))
	require.ErrorIs(t, err, os.ErrNotExist, "no preStop hook yet")

	require.NoError(t, os.Remove(manifestFile))
	waitFor(t, "the static pod's container to go", time.Minute, func() (bool, error) {
		cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{Labels: map[string]string{runtime.LabelPodName: name}})
		return err == nil && len(cs) == 0, err
	})
	got, err = os.ReadFile(filepath.Join(out, "prestop"))
	require.NoError(t, err, "the preStop hook ran before the container stopped")
	require.Equal(t, "stopping\n", string(got))
	waitFor(t, "the mirror pod to go", 30*time.Second, func() (bool, error) {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), errors.Join(err)
	})
}
