package apiserver_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlBinaries returns the kubectl on PATH and the versioned ones beside
// it (kubectl.1.27, kubectl.1.33) that the API must serve. Missing binaries
// skip the test, except on CI where they are an error.
func kubectlBinaries(t *testing.T) map[string]string {
	t.Helper()
	def, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("kubectl is not on PATH")
		}
		t.Skip("kubectl is not on PATH")
	}
	out := map[string]string{"default": def}
	real, err := filepath.EvalSymlinks(def)
	require.NoError(t, err)
	for _, v := range []string{"1.27", "1.33"} {
		p := filepath.Join(filepath.Dir(real), "kubectl."+v)
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Errorf("%s is missing", p)
			}
			continue
		}
		out[v] = p
	}
	return out
}

// kubectlRunner runs one kubectl binary against one server.
type kubectlRunner struct {
	t      *testing.T
	bin    string
	server string
	home   string
}

func (k *kubectlRunner) cmd(ctx context.Context, args ...string) *exec.Cmd {
	args = append([]string{"--server", k.server, "--request-timeout=20s"}, args...)
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null", "HOME="+k.home)
	return cmd
}

// run runs kubectl and returns its output; a failure fails the test.
func (k *kubectlRunner) run(args ...string) string {
	k.t.Helper()
	return k.runEnv(nil, args...)
}

func (k *kubectlRunner) runEnv(env []string, args ...string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := k.cmd(ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	require.NoError(k.t, err, "kubectl %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

const deploymentAndService = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/echo:1
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`

// TestKubectl drives the API server with the real kubectl, as an operator
// would, with the default kubectl and the oldest and newest supported ones.
func TestKubectl(t *testing.T) {
	bins := kubectlBinaries(t)
	for name, bin := range bins {
		t.Run(name, func(t *testing.T) {
			_, cs, url := newTestServer(t)
			k := &kubectlRunner{t: t, bin: bin, server: url, home: t.TempDir()}
			ctx := context.Background()

			// A node, as a node agent would register it.
			_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
				Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
			}, metav1.CreateOptions{})
			require.NoError(t, err)

			out := k.run("get", "cs")
			require.Contains(t, out, "etcd-0")
			require.Contains(t, out, "Healthy")
			out = k.run("get", "nodes")
			require.Contains(t, out, "node-1")
			require.Contains(t, out, "NAME")

			out = k.run("api-resources")
			for _, want := range []string{"deployments", "apps/v1", "pods", "endpointslices", "leases"} {
				require.Contains(t, out, want)
			}
			out = k.run("explain", "pod.spec")
			require.Contains(t, out, "containers")

			manifest := filepath.Join(t.TempDir(), "app.yaml")
			require.NoError(t, os.WriteFile(manifest, []byte(deploymentAndService), 0o644))
			out = k.run("apply", "-f", manifest)
			require.Contains(t, out, "deployment.apps/web created")
			require.Contains(t, out, "service/web created")
			out = k.run("apply", "-f", manifest)
			require.Contains(t, out, "deployment.apps/web unchanged")

			out = k.run("get", "deploy", "web", "-o", "yaml")
			require.Contains(t, out, "replicas: 2")
			require.Contains(t, out, "kubectl.kubernetes.io/last-applied-configuration")
			out = k.run("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}")
			require.Regexp(t, `^10\.0\.0\.\d+ 3\d{4}$`, out)

			k.run("label", "deploy", "web", "tier=front")
			k.run("annotate", "deploy", "web", "owner=ops")
			k.run("scale", "deploy", "web", "--replicas=3")
			out = k.run("get", "deploy", "web", "-o", "jsonpath={.metadata.labels.tier} {.metadata.annotations.owner} {.spec.replicas} {.metadata.generation}")
			require.Equal(t, "front ops 3 2", out)

			k.runEnv([]string{`KUBE_EDITOR=sed -i s/replicas:\ 3/replicas:\ 4/`}, "edit", "deploy", "web")
			require.Equal(t, "4", k.run("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"))

			// get -w sees pods come and go.
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			watch := k.cmd(wctx, "get", "pods", "-w", "--output-watch-events")
			stdout, err := watch.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, watch.Start())
			defer func() { cancel(); watch.Wait() }()
			lines := bufio.NewScanner(stdout)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "watched"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
			// With --output-watch-events kubectl prints the initial list as
			// ADDED too, so the pod shows up as ADDED whether it is created
			// before or after the watch is established.
			_, err = cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
			require.NoError(t, err)
			require.True(t, scanFor(lines, "ADDED", "watched"), "no ADDED event for the pod")
			require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, "watched", metav1.DeleteOptions{}))
			require.True(t, scanFor(lines, "DELETED", "watched"), "no DELETED event for the pod")

			k.run("delete", "-f", manifest)
			out = k.run("get", "deploy,svc", "-o", "name")
			require.NotContains(t, out, "web")

			// Server-side apply: idempotent, conflicts between managers,
			// forced takeover.
			out = k.run("apply", "--server-side", "-f", manifest)
			require.Contains(t, out, "deployment.apps/web serverside-applied")
			k.run("apply", "--server-side", "-f", manifest)
			require.Equal(t, "1", k.run("get", "deploy", "web", "-o", "jsonpath={.metadata.generation}"))
			scaled := filepath.Join(t.TempDir(), "scaled.yaml")
			require.NoError(t, os.WriteFile(scaled, []byte(strings.Replace(deploymentAndService, "replicas: 2", "replicas: 6", 1)), 0o644))
			cmd := k.cmd(ctx, "apply", "--server-side", "--field-manager=other", "-f", scaled)
			conflict, err := cmd.CombinedOutput()
			require.Error(t, err, "a second manager changing replicas must conflict")
			require.Contains(t, string(conflict), ".spec.replicas")
			k.run("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", scaled)
			require.Equal(t, "6 2", k.run("get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"))
		})
	}
}

// scanFor reads lines until one holds all the words; false at EOF.
func scanFor(s *bufio.Scanner, words ...string) bool {
	for s.Scan() {
		line := s.Text()
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}
