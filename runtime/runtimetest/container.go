package runtimetest

import (
	"slices"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
)

func testContainerLifecycle(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	cfg := sleeper("app")
	cfg.Labels = map[string]string{"runtimetest/container": "app-" + h.id}
	cfg.Annotations = map[string]string{"runtimetest/note": "hello"}
	cfg.Env = []runtime.EnvVar{{Name: "A", Value: "1"}}
	cfg.WorkingDir = "/tmp"
	id := h.create(sb, cfg)

	st := h.status(id)
	assert.Equal(t, id, st.ID)
	assert.Equal(t, sb, st.SandboxID)
	assert.Equal(t, "app", st.Name)
	assert.Equal(t, Busybox, st.Image)
	assert.NotEmpty(t, st.ImageID)
	assert.Equal(t, runtime.ContainerCreated, st.State)
	assert.False(t, st.CreatedAt.IsZero(), "CreatedAt")
	assert.True(t, st.StartedAt.IsZero(), "StartedAt before start")
	assert.Equal(t, cfg.Annotations, st.Annotations)
	assert.Equal(t, "app-"+h.id, st.Labels["runtimetest/container"])

	_, err := h.rt.CreateContainer(h.ctx, sb, cfg)
	require.ErrorIs(t, err, runtime.ErrAlreadyExists, "same name and attempt")

	require.NoError(t, h.rt.StartContainer(h.ctx, id))
	st = h.waitState(id, runtime.ContainerRunning)
	assert.False(t, st.StartedAt.IsZero(), "StartedAt")
	assert.False(t, st.StartedAt.Before(st.CreatedAt.Truncate(1e9)), "started %v before created %v", st.StartedAt, st.CreatedAt)
	assert.True(t, st.FinishedAt.IsZero(), "FinishedAt while running")

	require.NoError(t, h.rt.StopContainer(h.ctx, id, 0))
	st = h.status(id)
	assert.Equal(t, runtime.ContainerExited, st.State, "state after StopContainer returned")
	assert.False(t, st.FinishedAt.Before(st.StartedAt), "finished %v before started %v", st.FinishedAt, st.StartedAt)
	assert.NotEmpty(t, st.Reason)
	require.NoError(t, h.rt.StopContainer(h.ctx, id, 0), "stopping an exited container")

	require.NoError(t, h.rt.RemoveContainer(h.ctx, id))
	require.NoError(t, h.rt.RemoveContainer(h.ctx, id), "removing twice")
	_, err = h.rt.ContainerStatus(h.ctx, id)
	require.ErrorIs(t, err, runtime.ErrNotFound)
	require.ErrorIs(t, h.rt.StopContainer(h.ctx, id, 0), runtime.ErrNotFound)
	require.ErrorIs(t, h.rt.StartContainer(h.ctx, id), runtime.ErrNotFound)

	// The sandbox outlives its containers.
	sst, err := h.rt.SandboxStatus(h.ctx, sb)
	require.NoError(t, err)
	assert.Equal(t, runtime.SandboxReady, sst.State)
}

func testContainerAttempts(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	first := h.start(sb, sleeper("app"))
	require.NoError(t, h.rt.StopContainer(h.ctx, first, 0))
	restart := sleeper("app")
	restart.Attempt = 1
	second := h.start(sb, restart)

	ctrs, err := h.rt.ListContainers(h.ctx, runtime.ContainerFilter{SandboxID: sb})
	require.NoError(t, err)
	got := map[string]uint32{}
	for _, c := range ctrs {
		got[c.ID] = c.Attempt
		assert.Equal(t, "app", c.Name)
	}
	assert.Equal(t, map[string]uint32{first: 0, second: 1}, got)
	st := h.status(second)
	assert.Equal(t, uint32(1), st.Attempt)
	assert.Equal(t, "1", st.Labels[runtime.LabelRestartCount])
	assert.Equal(t, runtime.ContainerRunning, st.State)
	assert.Equal(t, runtime.ContainerExited, h.status(first).State)
}

func testContainerInvalid(h *harness) {
	t := h.t
	sb, _ := h.pod()
	for _, tc := range []struct {
		name   string
		mutate func(*runtime.ContainerConfig)
	}{
		{"no name", func(c *runtime.ContainerConfig) { c.Name = "" }},
		{"no image", func(c *runtime.ContainerConfig) { c.Image = "" }},
		{"bad env", func(c *runtime.ContainerConfig) { c.Env = []runtime.EnvVar{{Name: "A=B"}} }},
		{"relative mount", func(c *runtime.ContainerConfig) {
			c.Mounts = []runtime.Mount{{HostPath: "tmp", ContainerPath: "/x"}}
		}},
		{"negative memory", func(c *runtime.ContainerConfig) { c.Resources.MemoryLimit = -1 }},
		{"cpu shares too small", func(c *runtime.ContainerConfig) { c.Resources.CPUShares = 1 }},
	} {
		cfg := sleeper("bad")
		tc.mutate(&cfg)
		_, err := h.rt.CreateContainer(h.ctx, sb, cfg)
		assert.ErrorIs(t, err, runtime.ErrInvalidArgument, tc.name)
	}
	_, err := h.rt.CreateContainer(h.ctx, "no-such-sandbox-"+h.id, sleeper("app"))
	assert.ErrorIs(t, err, runtime.ErrNotFound, "absent sandbox")
	absent := sleeper("app")
	absent.Image = "gantry.local/absent-" + h.id + ":1"
	_, err = h.rt.CreateContainer(h.ctx, sb, absent)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "absent image")
}

func testLabels(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	sb, pod := h.pod()
	cfg := sleeper("web")
	cfg.Attempt = 3
	cfg.Labels = map[string]string{"app": "web", "runtimetest/test": h.id, runtime.LabelPodUID: "overwritten"}
	id := h.start(sb, cfg)
	other := h.create(sb, runtime.ContainerConfig{Name: "side", Image: Busybox, Command: []string{"true"},
		Labels: map[string]string{"app": "side", "runtimetest/test": h.id}})

	st := h.status(id)
	want := runtime.ContainerLabels(runtime.Sandbox{ID: sb, Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID}, cfg)
	for k, v := range want {
		assert.Equal(t, v, st.Labels[k], "label %s", k)
	}
	for k, v := range map[string]string{
		runtime.LabelManaged:       "true",
		runtime.LabelKind:          runtime.LabelKindContainer,
		runtime.LabelPodUID:        pod.UID,
		runtime.LabelPodName:       pod.Name,
		runtime.LabelPodNamespace:  pod.Namespace,
		runtime.LabelContainerName: "web",
		runtime.LabelRestartCount:  "3",
		runtime.LabelSandboxID:     sb,
	} {
		assert.Equal(t, v, st.Labels[k], "label %s", k)
	}
	sst, err := h.rt.SandboxStatus(h.ctx, sb)
	require.NoError(t, err)
	assert.Equal(t, runtime.LabelKindSandbox, sst.Labels[runtime.LabelKind])
	assertSandboxLabels(t, pod, sst.Labels)

	ids := func(f runtime.ContainerFilter) []string {
		t.Helper()
		ctrs, err := h.rt.ListContainers(h.ctx, f)
		require.NoError(t, err)
		var out []string
		for _, c := range ctrs {
			out = append(out, c.ID)
			assert.Equal(t, sb, c.SandboxID)
			assert.NotEmpty(t, c.Labels[runtime.LabelContainerName])
		}
		slices.Sort(out)
		return out
	}
	both := []string{id, other}
	slices.Sort(both)
	for _, tc := range []struct {
		name   string
		filter runtime.ContainerFilter
		want   []string
	}{
		{"by test label", runtime.ContainerFilter{Labels: map[string]string{"runtimetest/test": h.id}}, both},
		{"by pod UID", runtime.ContainerFilter{Labels: map[string]string{runtime.LabelPodUID: pod.UID}}, both},
		{"by sandbox", runtime.ContainerFilter{SandboxID: sb}, both},
		{"by two labels", runtime.ContainerFilter{Labels: map[string]string{"runtimetest/test": h.id, "app": "web"}}, []string{id}},
		{"by name label", runtime.ContainerFilter{SandboxID: sb, Labels: map[string]string{runtime.LabelContainerName: "side"}}, []string{other}},
		{"by ID", runtime.ContainerFilter{ID: id}, []string{id}},
		{"running", runtime.ContainerFilter{SandboxID: sb, State: runtime.ContainerRunning}, []string{id}},
		{"created", runtime.ContainerFilter{SandboxID: sb, State: runtime.ContainerCreated}, []string{other}},
		{"exited", runtime.ContainerFilter{SandboxID: sb, State: runtime.ContainerExited}, nil},
		{"no match", runtime.ContainerFilter{Labels: map[string]string{"runtimetest/test": "absent-" + h.id}}, nil},
	} {
		assert.Equal(t, tc.want, ids(tc.filter), tc.name)
	}
}

func testResources(h *harness) {
	h.pullLocal(Busybox)
	sb, _ := h.pod()
	cfg := sleeper("limited")
	cfg.Resources = runtime.Resources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20}
	id := h.start(sb, cfg)
	st := h.status(id)
	assert.Equal(h.t, cfg.Resources, st.Resources)
}
