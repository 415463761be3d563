package docker

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime"
)

// CreateContainer creates an app container joined to the sandbox's pause
// container's network and IPC namespaces.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	obj := fmt.Sprintf("container %q of sandbox %q", cfg.Name, sandboxID)
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("%s: %w", obj, err)
	}
	sb, err := r.sandbox(ctx, sandboxID)
	if err != nil {
		return "", fmt.Errorf("%s: %w", obj, err)
	}
	obj = fmt.Sprintf("container %q of pod %q", cfg.Name, sb.Namespace+"/"+sb.Name)

	labels := r.dockerLabels(runtime.ContainerLabels(sb, cfg), cfg.Annotations)
	labels[labelImage] = cfg.Image
	config := &container.Config{
		Image:       cfg.Image,
		WorkingDir:  cfg.WorkingDir,
		Labels:      labels,
		Tty:         cfg.TTY,
		OpenStdin:   cfg.Stdin,
		StdinOnce:   cfg.Stdin && cfg.StdinOnce,
		AttachStdin: cfg.Stdin,
	}
	if len(cfg.Command) > 0 {
		config.Entrypoint = cfg.Command
	}
	if len(cfg.Args) > 0 {
		config.Cmd = cfg.Args
	}
	for _, e := range cfg.Env {
		config.Env = append(config.Env, e.Name+"="+e.Value)
	}
	ns := "container:" + sandboxID
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(ns),
		IpcMode:     container.IpcMode(ns),
		Privileged:  cfg.Privileged,
		Resources: container.Resources{
			CPUShares: cfg.Resources.CPUShares,
			CPUQuota:  cfg.Resources.CPUQuota,
			CPUPeriod: cfg.Resources.CPUPeriod,
			Memory:    cfg.Resources.MemoryLimit,
		},
	}
	if cfg.Resources.CPUQuota > 0 && cfg.Resources.CPUPeriod == 0 {
		host.CPUPeriod = 100000
	}
	for _, m := range cfg.Mounts {
		host.Mounts = append(host.Mounts, mount.Mount{
			Type: mount.TypeBind, Source: m.HostPath, Target: m.ContainerPath, ReadOnly: m.ReadOnly,
		})
	}
	res, err := r.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       r.name(cfg.Name, sb.Name, sb.Namespace, sb.UID, strconv.FormatUint(uint64(cfg.Attempt), 10)),
		Config:     config,
		HostConfig: host,
	})
	if err != nil {
		return "", wrap(obj, err, runtime.ErrAlreadyExists)
	}
	return res.ID, nil
}

// StartContainer starts a created container.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	if _, err := r.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return wrap(fmt.Sprintf("container %q: start", id), err, nil)
	}
	return nil
}

// StopContainer stops a container with Docker's stop: the stop signal, then
// SIGKILL after gracePeriod rounded up to whole seconds.
func (r *Runtime) StopContainer(ctx context.Context, id string, gracePeriod time.Duration) error {
	secs := max(0, int(math.Ceil(gracePeriod.Seconds())))
	if _, err := r.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return wrap(fmt.Sprintf("container %q: stop", id), err, nil)
	}
	return nil
}

// RemoveContainer force-removes a container.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	_, err := r.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || isNotFound(err) {
		return nil
	}
	return wrap(fmt.Sprintf("container %q: remove", id), err, nil)
}

// ContainerStatus inspects a container.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	obj := fmt.Sprintf("container %q", id)
	res, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.ContainerStatus{}, wrap(obj, err, nil)
	}
	c := res.Container
	if c.Config == nil || c.State == nil || c.HostConfig == nil || !r.owns(c.Config.Labels, runtime.LabelKindContainer) {
		return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", obj, runtime.ErrNotFound)
	}
	st := runtime.ContainerStatus{
		Container:  containerFromLabels(c.ID, c.Config.Labels, c.Image, parseTime(c.Created)),
		StartedAt:  parseTime(c.State.StartedAt),
		FinishedAt: parseTime(c.State.FinishedAt),
		Resources: runtime.Resources{
			CPUShares:   c.HostConfig.CPUShares,
			CPUQuota:    c.HostConfig.CPUQuota,
			CPUPeriod:   c.HostConfig.CPUPeriod,
			MemoryLimit: c.HostConfig.Memory,
		},
	}
	if st.Image == "" {
		st.Image = c.Config.Image
	}
	if !st.FinishedAt.IsZero() && st.FinishedAt.Before(st.StartedAt) {
		// Docker records the start time once its start call is done, after
		// a short-lived process may have exited already.
		st.FinishedAt = st.StartedAt
	}
	s := c.State
	st.State = containerState(s.Status)
	switch {
	case s.Error != "" && st.State != runtime.ContainerRunning:
		// Docker leaves a container that failed to start "created", with
		// the error; to a node agent it has exited.
		st.State, st.Reason, st.Message = runtime.ContainerExited, runtime.ReasonStartError, s.Error
		st.ExitCode = s.ExitCode
		if st.ExitCode == 0 {
			st.ExitCode = 128
		}
		if st.FinishedAt.IsZero() {
			st.FinishedAt = st.CreatedAt
		}
	case st.State == runtime.ContainerExited:
		st.ExitCode = s.ExitCode
		switch {
		case s.OOMKilled:
			st.Reason = runtime.ReasonOOMKilled
		case s.ExitCode == 0:
			st.Reason = runtime.ReasonCompleted
		default:
			st.Reason = runtime.ReasonError
		}
	}
	return st, nil
}

// containerState maps Docker's container states to the runtime's.
func containerState(s container.ContainerState) runtime.ContainerState {
	switch s {
	case container.StateCreated:
		return runtime.ContainerCreated
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		return runtime.ContainerRunning
	case container.StateExited, container.StateDead, container.StateRemoving:
		return runtime.ContainerExited
	}
	return runtime.ContainerUnknown
}

func containerFromLabels(id string, all map[string]string, imageID string, created time.Time) runtime.Container {
	labels, annotations := splitLabels(all)
	return runtime.Container{
		ID:          id,
		SandboxID:   labels[runtime.LabelSandboxID],
		Name:        labels[runtime.LabelContainerName],
		Attempt:     runtime.ParseAttempt(labels[runtime.LabelRestartCount]),
		Image:       all[labelImage],
		ImageID:     imageID,
		CreatedAt:   created,
		Labels:      labels,
		Annotations: annotations,
	}
}

// ListContainers lists the app containers of this runtime.
func (r *Runtime) ListContainers(ctx context.Context, filter runtime.ContainerFilter) ([]runtime.Container, error) {
	selector := filter.Labels
	if filter.SandboxID != "" {
		selector = map[string]string{runtime.LabelSandboxID: filter.SandboxID}
		for k, v := range filter.Labels {
			selector[k] = v
		}
	}
	f := r.baseFilters(runtime.LabelKindContainer, selector)
	if filter.ID != "" {
		f.Add("id", filter.ID)
	}
	switch filter.State {
	case runtime.ContainerCreated:
		f.Add("status", string(container.StateCreated))
	case runtime.ContainerRunning:
		f.Add("status", string(container.StateRunning), string(container.StatePaused), string(container.StateRestarting))
	}
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, wrap("list containers", err, nil)
	}
	out := make([]runtime.Container, 0, len(res.Items))
	for _, c := range res.Items {
		if filter.ID != "" && c.ID != filter.ID {
			continue // Docker's id filter matches prefixes
		}
		ctr := containerFromLabels(c.ID, c.Labels, c.ImageID, time.Unix(c.Created, 0))
		ctr.State = containerState(c.State)
		if filter.State != "" && ctr.State != filter.State {
			continue
		}
		out = append(out, ctr)
	}
	return out, nil
}
