package nodeagent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	apiremotecommand "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

func TestExecStatus(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		err        error
		wantStatus string
		wantReason metav1.StatusReason
		wantCause  string // the ExitCode cause's message, "" for none
	}{
		{name: "success", code: 0, wantStatus: metav1.StatusSuccess},
		{name: "non-zero exit", code: 3, wantStatus: metav1.StatusFailure, wantReason: apiremotecommand.NonZeroExitCodeReason, wantCause: "3"},
		{name: "exit 255", code: 255, wantStatus: metav1.StatusFailure, wantReason: apiremotecommand.NonZeroExitCodeReason, wantCause: "255"},
		{name: "could not run", code: 0, err: errors.New("container is not running"), wantStatus: metav1.StatusFailure, wantReason: metav1.StatusReasonInternalError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The wire form is the JSON of the status; decode it as a client does.
			b, err := json.Marshal(nodeagent.ExecStatus(tt.code, tt.err))
			require.NoError(t, err)
			var got metav1.Status
			require.NoError(t, json.Unmarshal(b, &got))
			assert.Equal(t, tt.wantStatus, got.Status)
			assert.Equal(t, tt.wantReason, got.Reason)
			if tt.err != nil {
				assert.Contains(t, got.Message, tt.err.Error())
			}
			if tt.wantCause == "" {
				if got.Details != nil {
					assert.Empty(t, got.Details.Causes)
				}
				return
			}
			require.NotNil(t, got.Details)
			require.Len(t, got.Details.Causes, 1)
			assert.Equal(t, apiremotecommand.ExitCodeCauseType, got.Details.Causes[0].Type)
			assert.Equal(t, tt.wantCause, got.Details.Causes[0].Message)
		})
	}
}

// sizeQueue hands out fixed terminal sizes, then blocks until ctx ends.
type sizeQueue struct {
	ctx   context.Context
	sizes chan remotecommand.TerminalSize
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.sizes:
		return &s
	case <-q.ctx.Done():
		return nil
	}
}

func TestExecOnDocker(t *testing.T) {
	if os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("needs root for Docker")
	}
	node := "node-" + rand.String(6)
	cs := apiServer(t)
	rt := dockerRuntime(t, node)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: node, Client: cs, Runtime: rt,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
		RenewInterval: time.Second, StatusUpdateInterval: time.Second, SyncInterval: 300 * time.Millisecond,
		BackOff: 200 * time.Millisecond, MaxBackOff: time.Second,
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	name := "shell-" + rand.String(5)
	_, err = pods.Create(ctx, busyboxPod(name, node, corev1.RestartPolicyAlways, "sleep", "3600"), metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the pod to run", time.Minute, func() (bool, error) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
	host := apiHost(cs)
	cfg := &rest.Config{Host: host}
	executors := []struct {
		name string
		new  func(u *url.URL) (remotecommand.Executor, error)
		// halfClose: the protocol can tell the end of stdin (WebSocket v4
		// cannot, so a command reading stdin to its end never ends).
		halfClose bool
	}{
		{"spdy", func(u *url.URL) (remotecommand.Executor, error) { return remotecommand.NewSPDYExecutor(cfg, "POST", u) }, true},
		{"websocket", func(u *url.URL) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
		}, true},
		{"websocket-v4", func(u *url.URL) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u.String(), apiremotecommand.StreamProtocolV4Name)
		}, false},
	}
	cases := []struct {
		name       string
		cmd        []string
		stdin      string
		wantStdout string
		wantCode   int // 0: no error
	}{
		{name: "echo", cmd: []string{"echo", "hello"}, wantStdout: "hello\n"},
		{name: "stdin", cmd: []string{"cat"}, stdin: "abc", wantStdout: "abc"},
		{name: "stderr and exit code", cmd: []string{"sh", "-c", "echo oops >&2; exit 3"}, wantCode: 3},
	}
	for _, ex := range executors {
		t.Run(ex.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.stdin != "" && !ex.halfClose {
						t.Skip("the protocol cannot signal the end of stdin")
					}
					opts := &corev1.PodExecOptions{Command: tc.cmd, Stdin: tc.stdin != "", Stdout: true, Stderr: true}
					u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(name).
						SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
					e, err := ex.new(u)
					require.NoError(t, err)
					var stdout, stderr bytes.Buffer
					so := remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}
					if tc.stdin != "" {
						so.Stdin = strings.NewReader(tc.stdin)
					}
					sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					err = e.StreamWithContext(sctx, so)
					if tc.wantCode != 0 {
						var ce utilexec.CodeExitError
						require.ErrorAs(t, err, &ce)
						assert.Equal(t, tc.wantCode, ce.ExitStatus())
						assert.Equal(t, "oops\n", stderr.String())
					} else {
						require.NoError(t, err)
					}
					assert.Equal(t, tc.wantStdout, stdout.String())
				})
			}
			t.Run("tty with resize", func(t *testing.T) {
				// The shell polls its terminal size until the resize lands.
				script := `for i in $(seq 100); do s=$(stty size); [ "$s" = "45 123" ] && echo "size $s" && exit 0; sleep 0.1; done; echo "size $s"; exit 1`
				opts := &corev1.PodExecOptions{Command: []string{"sh", "-c", script}, Stdout: true, TTY: true}
				u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(name).
					SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
				e, err := ex.new(u)
				require.NoError(t, err)
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				q := &sizeQueue{ctx: sctx, sizes: make(chan remotecommand.TerminalSize, 1)}
				q.sizes <- remotecommand.TerminalSize{Width: 123, Height: 45}
				var stdout bytes.Buffer
				err = e.StreamWithContext(sctx, remotecommand.StreamOptions{Stdout: &stdout, Tty: true, TerminalSizeQueue: q})
				require.NoError(t, err, "output: %q", stdout.String())
				assert.Contains(t, stdout.String(), "size 45 123")
			})
			t.Run("unknown container", func(t *testing.T) {
				opts := &corev1.PodExecOptions{Container: "nope", Command: []string{"true"}, Stdout: true}
				u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(name).
					SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
				e, err := ex.new(u)
				require.NoError(t, err)
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				err = e.StreamWithContext(sctx, remotecommand.StreamOptions{Stdout: &bytes.Buffer{}})
				require.Error(t, err)
			})
		})
	}

	t.Run("kubectl", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, os.WriteFile(kubeconfig, nil, 0o600))
		dir := kubectlDir(t)
		versions := []struct {
			name, binary string
			env          []string
		}{
			{name: "default", binary: "kubectl"},
			{name: "default-spdy", binary: "kubectl", env: []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}},
			{name: "1.27", binary: "kubectl.1.27"},
			{name: "1.33", binary: "kubectl.1.33"},
		}
		for _, v := range versions {
			t.Run(v.name, func(t *testing.T) {
				bin := filepath.Join(dir, v.binary)
				if _, err := os.Stat(bin); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("%s is missing: %v", bin, err)
					}
					t.Skipf("%s is missing", bin)
				}
				kubectl := func(stdin string, args ...string) (string, error) {
					cctx, cancel := context.WithTimeout(ctx, time.Minute)
					defer cancel()
					cmd := exec.CommandContext(cctx, bin, append([]string{"--kubeconfig", kubeconfig, "-s", host, "-n", "default"}, args...)...)
					cmd.Env = append(os.Environ(), v.env...)
					cmd.Stdin = strings.NewReader(stdin)
					var stderr bytes.Buffer
					cmd.Stderr = &stderr
					out, err := cmd.Output()
					if err != nil {
						return string(out), errors.Join(err, errors.New(stderr.String()))
					}
					return string(out), nil
				}
				out, err := kubectl("", "exec", name, "--", "echo", "hi")
				require.NoError(t, err)
				assert.Equal(t, "hi\n", out)

				out, err = kubectl("line one\nline two\n", "exec", "-i", name, "--", "cat")
				require.NoError(t, err)
				assert.Equal(t, "line one\nline two\n", out)

				_, err = kubectl("", "exec", name, "--", "sh", "-c", "exit 3")
				var ee *exec.ExitError
				require.ErrorAs(t, err, &ee)
				assert.NotZero(t, ee.ExitCode())

				// kubectl exec -it needs a terminal: script(1) runs it on a
				// pseudo-terminal and types our input into it.
				scriptBin, err := exec.LookPath("script")
				if err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("script (util-linux) is missing: %v", err)
					}
					t.Skip("script (util-linux) is missing: no terminal for kubectl exec -it")
				}
				line := strings.Join(append([]string{"env"}, v.env...), " ") + " " + bin +
					" --kubeconfig " + kubeconfig + " -s " + host + " -n default exec -it " + name + " -- sh"
				cctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				cmd := exec.CommandContext(cctx, scriptBin, "-qec", line, "/dev/null")
				cmd.Stdin = strings.NewReader("tty; echo answer=$((6*7))\nexit 0\n")
				out2, err := cmd.CombinedOutput()
				require.NoError(t, err, "output: %q", out2)
				assert.Contains(t, string(out2), "answer=42")
				assert.Contains(t, string(out2), "/dev/pts/")
			})
		}
	})
}

// apiHost is the base URL of the API server cs talks to.
func apiHost(cs kubernetes.Interface) string {
	u := cs.CoreV1().RESTClient().Get().URL()
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// kubectlDir is the directory of the kubectl binaries (the real file behind
// the kubectl on PATH).
func kubectlDir(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("kubectl is not on PATH: %v", err)
		}
		t.Skip("kubectl is not on PATH")
	}
	real, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return filepath.Dir(real)
}

// blockers are the sessions of the fake exec command "block <key>": it
// closes started[key], waits until its context ends, then closes ended[key].
var blockers = struct {
	sync.Mutex
	started, ended map[string]chan struct{}
}{started: map[string]chan struct{}{}, ended: map[string]chan struct{}{}}

// blocker returns the started and ended channels of key.
func blocker(key string) (started, ended chan struct{}) {
	blockers.Lock()
	defer blockers.Unlock()
	if blockers.started[key] == nil {
		blockers.started[key], blockers.ended[key] = make(chan struct{}), make(chan struct{})
	}
	return blockers.started[key], blockers.ended[key]
}

// fakeExec is a fake runtime's exec: "echo args..." writes its arguments,
// "cat" copies stdin, "fail <msg>" writes msg to stderr and exits 3,
// "size" writes the first terminal size it is given, and "block <key>" runs
// until its context ends (see blockers).
func fakeExec(ctx context.Context, _ runtime.ContainerStatus, opts runtime.ExecOptions) (int, error) {
	switch opts.Cmd[0] {
	case "block":
		started, ended := blocker(opts.Cmd[1])
		close(started)
		<-ctx.Done()
		close(ended)
		return 0, ctx.Err()
	case "echo":
		_, err := fmt.Fprintln(opts.Stdout, strings.Join(opts.Cmd[1:], " "))
		return 0, err
	case "cat":
		_, err := io.Copy(opts.Stdout, opts.Stdin)
		return 0, err
	case "fail":
		_, err := fmt.Fprintln(opts.Stderr, strings.Join(opts.Cmd[1:], " "))
		return 3, err
	case "size":
		select {
		case s := <-opts.Resize:
			_, err := fmt.Fprintf(opts.Stdout, "size %dx%d\n", s.Width, s.Height)
			return 0, err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return 0, fmt.Errorf("exec %q: %w", opts.Cmd[0], runtime.ErrNotFound)
}

// TestExecProtocolsOnFakeRuntime runs exec sessions through the API server
// and the agent's /exec endpoint on the fake runtime, with every protocol
// client-go speaks.
func TestExecProtocolsOnFakeRuntime(t *testing.T) {
	cs := fakeAgentWithApp(t, fake.Options{Images: []string{"app:1"}, Exec: fakeExec})
	ctx := context.Background()
	cfg := &rest.Config{Host: apiHost(cs)}
	execURL := func(opts *corev1.PodExecOptions) *url.URL {
		return cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("app").
			SubResource("exec").VersionedParams(opts, scheme.ParameterCodec).URL()
	}

	protocols := []struct {
		name string
		new  func(u *url.URL) (remotecommand.Executor, error)
		// exitCodes: the protocol reports exit codes (v4 and later); older
		// ones report a non-zero exit as a plain error message.
		exitCodes, halfClose, resize bool
	}{
		{"spdy-v4", func(u *url.URL) (remotecommand.Executor, error) {
			return remotecommand.NewSPDYExecutor(cfg, "POST", u)
		}, true, true, true},
		{"spdy-v3", func(u *url.URL) (remotecommand.Executor, error) {
			tr, up, err := spdy.RoundTripperFor(cfg)
			if err != nil {
				return nil, err
			}
			return remotecommand.NewSPDYExecutorForProtocols(tr, up, "POST", u, apiremotecommand.StreamProtocolV3Name)
		}, false, true, true},
		{"spdy-v2", func(u *url.URL) (remotecommand.Executor, error) {
			tr, up, err := spdy.RoundTripperFor(cfg)
			if err != nil {
				return nil, err
			}
			return remotecommand.NewSPDYExecutorForProtocols(tr, up, "POST", u, apiremotecommand.StreamProtocolV2Name)
		}, false, true, false},
		{"websocket-v5", func(u *url.URL) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
		}, true, true, true},
		{"websocket-v4", func(u *url.URL) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u.String(), apiremotecommand.StreamProtocolV4Name)
		}, true, false, true},
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			run := func(opts *corev1.PodExecOptions, so remotecommand.StreamOptions) error {
				e, err := p.new(execURL(opts))
				require.NoError(t, err)
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				return e.StreamWithContext(sctx, so)
			}
			t.Run("stdout", func(t *testing.T) {
				var stdout bytes.Buffer
				err := run(&corev1.PodExecOptions{Command: []string{"echo", "a", "b"}, Stdout: true}, remotecommand.StreamOptions{Stdout: &stdout})
				require.NoError(t, err)
				assert.Equal(t, "a b\n", stdout.String())
			})
			t.Run("stdin", func(t *testing.T) {
				if !p.halfClose {
					t.Skip("the protocol cannot signal the end of stdin")
				}
				var stdout bytes.Buffer
				err := run(&corev1.PodExecOptions{Command: []string{"cat"}, Stdin: true, Stdout: true},
					remotecommand.StreamOptions{Stdin: strings.NewReader("abc"), Stdout: &stdout})
				require.NoError(t, err)
				assert.Equal(t, "abc", stdout.String())
			})
			t.Run("exit code", func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := run(&corev1.PodExecOptions{Command: []string{"fail", "oops"}, Stdout: true, Stderr: true},
					remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
				require.Error(t, err)
				assert.Equal(t, "oops\n", stderr.String())
				var ce utilexec.CodeExitError
				if p.exitCodes {
					require.ErrorAs(t, err, &ce)
					assert.Equal(t, 3, ce.ExitStatus())
				} else {
					assert.Contains(t, err.Error(), "non-zero exit code")
				}
			})
			t.Run("runtime error", func(t *testing.T) {
				err := run(&corev1.PodExecOptions{Command: []string{"nonexistent"}, Stdout: true}, remotecommand.StreamOptions{Stdout: &bytes.Buffer{}})
				require.Error(t, err)
				assert.Contains(t, err.Error(), "nonexistent")
			})
			for _, tty := range []bool{false, true} {
				t.Run(fmt.Sprintf("client gone tty=%v", tty), func(t *testing.T) {
					// When the client goes away, the agent ends the runtime's exec.
					key := fmt.Sprintf("%s-%v", p.name, tty)
					started, ended := blocker(key)
					sctx, cancel := context.WithCancel(ctx)
					defer cancel()
					so := remotecommand.StreamOptions{Stdout: &bytes.Buffer{}, Tty: tty}
					if tty {
						so.TerminalSizeQueue = &sizeQueue{ctx: sctx, sizes: make(chan remotecommand.TerminalSize)}
					}
					e, err := p.new(execURL(&corev1.PodExecOptions{Command: []string{"block", key}, Stdout: true, TTY: tty}))
					require.NoError(t, err)
					errc := make(chan error, 1)
					go func() { errc <- e.StreamWithContext(sctx, so) }()
					select {
					case <-started:
					case err := <-errc:
						t.Fatalf("the session ended before the command started: %v", err)
					case <-time.After(10 * time.Second):
						t.Fatal("the command did not start")
					}
					cancel()
					select {
					case <-ended:
					case <-time.After(10 * time.Second):
						t.Fatal("the exec went on after the client had gone")
					}
					<-errc
				})
			}
			t.Run("tty resize", func(t *testing.T) {
				if !p.resize {
					t.Skip("the protocol has no resize stream")
				}
				sctx, cancel := context.WithCancel(ctx)
				defer cancel()
				q := &sizeQueue{ctx: sctx, sizes: make(chan remotecommand.TerminalSize, 1)}
				q.sizes <- remotecommand.TerminalSize{Width: 100, Height: 30}
				var stdout bytes.Buffer
				err := run(&corev1.PodExecOptions{Command: []string{"size"}, Stdout: true, TTY: true},
					remotecommand.StreamOptions{Stdout: &stdout, Tty: true, TerminalSizeQueue: q})
				require.NoError(t, err)
				assert.Equal(t, "size 100x30\n", stdout.String())
			})
		})
	}

	t.Run("discovery", func(t *testing.T) {
		list, err := cs.Discovery().ServerResourcesForGroupVersion("v1")
		require.NoError(t, err)
		var found *metav1.APIResource
		for i := range list.APIResources {
			if list.APIResources[i].Name == "pods/exec" {
				found = &list.APIResources[i]
			}
		}
		require.NotNil(t, found, "pods/exec is not in discovery")
		assert.Equal(t, "PodExecOptions", found.Kind)
		assert.ElementsMatch(t, []string{"create", "get"}, []string(found.Verbs))
	})
	t.Run("rejected", func(t *testing.T) {
		tests := []struct {
			name     string
			pod      string
			opts     *corev1.PodExecOptions
			wantCode int32
			want     string
		}{
			{"no command", "app", &corev1.PodExecOptions{Stdout: true}, http.StatusBadRequest, "at least one command"},
			{"unknown container", "app", &corev1.PodExecOptions{Container: "nope", Command: []string{"echo"}, Stdout: true}, http.StatusBadRequest, "not valid for pod"},
			{"unknown pod", "nope", &corev1.PodExecOptions{Command: []string{"echo"}, Stdout: true}, http.StatusNotFound, "not found"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body, err := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(tt.pod).
					SubResource("exec").VersionedParams(tt.opts, scheme.ParameterCodec).DoRaw(ctx)
				require.Error(t, err)
				var st metav1.Status
				require.NoError(t, json.Unmarshal(body, &st), "body: %s", body)
				assert.Equal(t, tt.wantCode, st.Code)
				assert.Contains(t, st.Message, tt.want)
			})
		}
	})
}

// fakeAgentWithApp runs, until the test ends, a node agent of node n1 on a
// fake runtime made with opts (which must have the image app:1), serving
// its API, and a pod "app" in namespace default on it; the pod is Running
// when it returns.
func fakeAgentWithApp(t *testing.T, opts fake.Options) kubernetes.Interface {
	t.Helper()
	rt, err := fake.New(opts)
	require.NoError(t, err)
	cs := apiServer(t)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "n1", Client: cs, Runtime: rt,
		NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
		SyncInterval: 100 * time.Millisecond, StatusUpdateInterval: time.Second,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	pods := cs.CoreV1().Pods("default")
	_, err = pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the pod to run", 20*time.Second, func() (bool, error) {
		p, err := pods.Get(ctx, "app", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	return cs
}
