package nodeagent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// fakeAttach is a fake runtime's attach: it greets on stdout (and stderr
// when attached), then echoes stdin upper-cased until stdin ends.
func fakeAttach(ctx context.Context, st runtime.ContainerStatus, opts runtime.AttachOptions) error {
	if opts.Stdout != nil {
		fmt.Fprintf(opts.Stdout, "attached to %s\n", st.Name)
	}
	if opts.Stderr != nil {
		fmt.Fprintln(opts.Stderr, "on stderr")
	}
	if opts.Stdin == nil {
		return nil
	}
	b, err := io.ReadAll(opts.Stdin)
	if err != nil {
		return err
	}
	_, err = opts.Stdout.Write(bytes.ToUpper(b))
	return err
}

// TestAttachOnFakeRuntime attaches through the API server's pods/attach
// and the agent's /attach endpoint, over SPDY and WebSocket.
func TestAttachOnFakeRuntime(t *testing.T) {
	cs := fakeAgentWithApp(t, fake.Options{Images: []string{"app:1"}, Attach: fakeAttach})
	ctx := context.Background()
	cfg := &rest.Config{Host: apiHost(cs)}
	attachURL := func(opts *corev1.PodAttachOptions) *url.URL {
		return cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("app").
			SubResource("attach").VersionedParams(opts, scheme.ParameterCodec).URL()
	}
	executors := []struct {
		name string
		new  func(u *url.URL) (remotecommand.Executor, error)
	}{
		{"spdy", func(u *url.URL) (remotecommand.Executor, error) { return remotecommand.NewSPDYExecutor(cfg, "POST", u) }},
		{"websocket", func(u *url.URL) (remotecommand.Executor, error) {
			return remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
		}},
	}
	for _, ex := range executors {
		t.Run(ex.name, func(t *testing.T) {
			run := func(opts *corev1.PodAttachOptions, so remotecommand.StreamOptions) error {
				e, err := ex.new(attachURL(opts))
				require.NoError(t, err)
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				return e.StreamWithContext(sctx, so)
			}
			t.Run("output", func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := run(&corev1.PodAttachOptions{Stdout: true, Stderr: true}, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
				require.NoError(t, err)
				assert.Equal(t, "attached to app\n", stdout.String())
				assert.Equal(t, "on stderr\n", stderr.String())
			})
			t.Run("stdin", func(t *testing.T) {
				var stdout bytes.Buffer
				err := run(&corev1.PodAttachOptions{Stdin: true, Stdout: true},
					remotecommand.StreamOptions{Stdin: strings.NewReader("hello"), Stdout: &stdout})
				require.NoError(t, err)
				assert.Equal(t, "attached to app\nHELLO", stdout.String())
			})
		})
	}
	t.Run("bad requests", func(t *testing.T) {
		e, err := remotecommand.NewSPDYExecutor(cfg, "POST", attachURL(&corev1.PodAttachOptions{Container: "nope", Stdout: true}))
		require.NoError(t, err)
		err = e.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "container nope is not valid")
	})
}
