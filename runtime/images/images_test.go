package images_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime/images"
	"github.com/gantryhq/gantry/runtime/runtimetest"
)

// Build is idempotent and safe to call concurrently; the images it makes
// carry the content label and both tags, and nothing was pulled.
func TestBuild(t *testing.T) {
	cli := runtimetest.DockerClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = images.Build(ctx, cli) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	for _, ref := range images.All {
		res, err := cli.ImageInspect(ctx, ref)
		require.NoError(t, err, ref)
		assert.NotEmpty(t, res.Config.Labels[images.LabelContentHash], "%s: content label", ref)
		latest, err := cli.ImageInspect(ctx, ref[:strings.LastIndex(ref, ":")]+":latest")
		require.NoError(t, err, "%s: latest tag", ref)
		assert.Equal(t, res.ID, latest.ID, "%s: latest is the same image", ref)
		assert.Empty(t, res.RepoDigests, "%s was built, not pulled", ref)
	}
	// Current images are not rebuilt.
	before, err := cli.ImageInspect(ctx, images.Echo)
	require.NoError(t, err)
	require.NoError(t, images.Build(ctx, cli))
	after, err := cli.ImageInspect(ctx, images.Echo)
	require.NoError(t, err)
	assert.Equal(t, before.ID, after.ID)
}

// The images run: busybox has its applets, pause its program.
func TestImagesRun(t *testing.T) {
	cli := runtimetest.DockerClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	runtimetest.EnsureImages(ctx, t, cli)
	for _, tc := range []struct {
		image string
		cmd   []string
		want  string
	}{
		{images.Busybox, []string{"sh", "-c", "echo $((6*7)); ls /usr/bin/wget /bin/sleep; cat /etc/passwd | head -1"},
			"42\n/bin/sleep\n/usr/bin/wget\nroot:x:0:0:root:/root:/bin/sh\n"},
		{images.Pause, []string{"-v"}, "gantry pause\n"},
	} {
		assert.Equal(t, tc.want, runOnce(ctx, t, cli, tc.image, tc.cmd), tc.image)
	}
}

// runOnce runs image with cmd to its end and returns its output.
func runOnce(ctx context.Context, t *testing.T, cli client.APIClient, image string, cmd []string) string {
	t.Helper()
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: cmd, Labels: map[string]string{"gantry.io/test": "images"}},
	})
	require.NoError(t, err)
	defer func() {
		_, _ = cli.ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true})
	}()
	wait := cli.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	_, err = cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
	require.NoError(t, err)
	select {
	case r := <-wait.Result:
		require.Equal(t, int64(0), r.StatusCode, "%s %v exit code", image, cmd)
	case err := <-wait.Error:
		require.NoError(t, err)
	}
	logs, err := cli.ContainerLogs(ctx, res.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	require.NoError(t, err)
	defer logs.Close()
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, logs)
	require.NoError(t, err)
	return out.String()
}
