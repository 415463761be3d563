package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/examples/internal/proctest"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

// TestHA runs two masters over an external three-member etcd cluster, and a
// node, all as processes. Stopping an etcd member, then the active master
// (the one whose scheduler and controller manager lead), leaves the cluster
// working: deployments made after each failure get their pods scheduled and
// running; a client watching pods through the surviving master sees every
// pod, with no event lost; nothing written before the failures is lost.
func TestHA(t *testing.T) {
	etcd := etcdtest.Start(t, etcdtest.Options{Members: 3})
	masterBin := proctest.Build(t, "github.com/gantryhq/gantry/examples/master")
	nodeBin := proctest.Build(t, "github.com/gantryhq/gantry/examples/node")
	dir := t.TempDir()
	dirA, dirB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	args := func(dataDir string) []string {
		return []string{"--data-dir", dataDir, "--etcd-servers", strings.Join(etcd.Endpoints(), ","), "--node-names", "ha-node"}
	}

	// Master A first, so that its scheduler and controller manager lead.
	a, _ := proctest.StartServer(t, masterBin, "--secure-port", ready, 2*time.Minute, args(dirA)...)
	csA := clientset(t, filepath.Join(dirA, "kubeconfig"))
	leaders := func(cs kubernetes.Interface) map[string]string {
		out := map[string]string{}
		for _, name := range []string{"gantry-scheduler", "gantry-controller-manager"} {
			l, err := cs.CoordinationV1().Leases("kube-system").Get(context.Background(), name, metav1.GetOptions{})
			if err == nil && l.Spec.HolderIdentity != nil {
				out[name] = *l.Spec.HolderIdentity
			}
		}
		return out
	}
	proctest.Eventually(t, time.Minute, 200*time.Millisecond, func() (bool, string) {
		l := leaders(csA)
		return len(l) == 2, fmt.Sprint(l)
	})
	leadersA := leaders(csA)

	// Master B shares A's PKI (as a second control-plane host would get
	// the CA and keys copied to it) and its etcd.
	require.NoError(t, os.MkdirAll(dirB, 0o700))
	require.NoError(t, exec.Command("cp", "-a", filepath.Join(dirA, "pki"), filepath.Join(dirB, "pki")).Run(), "copy the PKI")
	b, _ := proctest.StartServer(t, masterBin, "--secure-port", ready, 2*time.Minute, args(dirB)...)
	csB := clientset(t, filepath.Join(dirB, "kubeconfig"))
	t.Cleanup(func() {
		b.Signal(syscall.SIGTERM)
		b.Wait(time.Minute)
	})

	// The node talks to B, which stays up.
	node := proctest.Start(t, nodeBin, "--kubeconfig", filepath.Join(dirB, "nodes", "ha-node.kubeconfig"),
		"--tls-cert-file", filepath.Join(dirB, "nodes", "ha-node.crt"), "--tls-private-key-file", filepath.Join(dirB, "nodes", "ha-node.key"),
		"--node-name", "ha-node", "--node-ip", "127.0.0.1", "--runtime", "fake", "--overlay", "none",
		"--proxy-mode", "none", "--node-agent-port", "0", "--proxy-health-port", "0", "--data-dir", filepath.Join(dir, "node"))
	t.Cleanup(func() {
		node.Signal(syscall.SIGTERM)
		node.Wait(time.Minute)
	})

	// Watch pods through B from the start; every pod must show up.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := csB.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var mu sync.Mutex
	seen := map[string]bool{}
	var watchErr error
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified:
				if p, ok := ev.Object.(*corev1.Pod); ok {
					mu.Lock()
					seen[p.Name] = true
					mu.Unlock()
				}
			case watch.Error:
				mu.Lock()
				watchErr = fmt.Errorf("watch error: %v", ev.Object)
				mu.Unlock()
			}
		}
	}()

	k := func(kubeconfig string) *proctest.KubectlRunner { return proctest.NewKubectl(t, kubeconfig) }
	kA, kB := k(filepath.Join(dirA, "kubeconfig")), k(filepath.Join(dirB, "kubeconfig"))
	runningPods := func(cs kubernetes.Interface, app string, n int) {
		t.Helper()
		proctest.Eventually(t, 2*time.Minute, 250*time.Millisecond, func() (bool, string) {
			pods, err := cs.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
			if err != nil {
				return false, err.Error()
			}
			running := 0
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			return running == n, fmt.Sprintf("%s: %d of %d pods running", app, running, n)
		})
	}

	// Both masters serve the same state.
	kA.Run(t, "create", "configmap", "before", "--from-literal=k=v")
	require.Equal(t, "v", kB.Run(t, "get", "configmap", "before", "-o", "jsonpath={.data.k}"))
	kA.Run(t, "create", "deployment", "one", "--image=gantry.local/echo:1.0", "--replicas=2")
	runningPods(csB, "one", 2)

	// One etcd member down: still a quorum.
	etcd.StopMember(t, 0)
	kA.Run(t, "create", "configmap", "member-down", "--from-literal=k=v")
	kB.Run(t, "create", "deployment", "two", "--image=gantry.local/echo:1.0", "--replicas=2")
	runningPods(csB, "two", 2)

	// The active master down: B's scheduler and controller manager take
	// over their leases.
	a.Signal(syscall.SIGTERM)
	require.Equal(t, 0, a.Wait(time.Minute), "master A stops cleanly")
	proctest.Eventually(t, 2*time.Minute, 500*time.Millisecond, func() (bool, string) {
		l := leaders(csB)
		return len(l) == 2 && l["gantry-scheduler"] != leadersA["gantry-scheduler"] &&
			l["gantry-controller-manager"] != leadersA["gantry-controller-manager"], fmt.Sprintf("leaders %v (A's were %v)", l, leadersA)
	})
	kB.Run(t, "create", "deployment", "three", "--image=gantry.local/echo:1.0", "--replicas=2")
	runningPods(csB, "three", 2)
	kB.Run(t, "scale", "deployment", "one", "--replicas=3")
	runningPods(csB, "one", 3)

	// Nothing written before the failures is lost.
	for _, name := range []string{"before", "member-down"} {
		require.Equal(t, "v", kB.Run(t, "get", "configmap", name, "-o", "jsonpath={.data.k}"), "configmap %s", name)
	}
	// The watch through B saw every pod that exists, and no error.
	pods, err := csB.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 7)
	mu.Lock()
	for _, p := range pods.Items {
		require.True(t, seen[p.Name], "the watch missed pod %s", p.Name)
	}
	require.NoError(t, watchErr)
	mu.Unlock()
	cancel()
	<-watchDone
}

func clientset(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	cfg.QPS = -1
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}
