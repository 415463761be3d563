package docker

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime"
)

// pauseStopTimeout is how long StopSandbox gives the pause container to exit
// on SIGTERM (it exits at once).
const pauseStopTimeout = 5

// RunSandbox creates and starts the pod's pause container, on the network the
// config names, and returns its ID.
func (r *Runtime) RunSandbox(ctx context.Context, cfg runtime.SandboxConfig) (string, error) {
	pod := fmt.Sprintf("sandbox of pod %q", cfg.Namespace+"/"+cfg.Name)
	if err := cfg.Validate(); err != nil {
		return "", fmt.Errorf("%s: %w", pod, err)
	}
	netMode, err := r.sandboxNetwork(ctx, cfg.Network)
	if err != nil {
		return "", fmt.Errorf("%s: %w", pod, err)
	}

	labels := runtime.SandboxLabels(cfg)
	config := &container.Config{
		Image:  r.opts.PauseImage,
		Labels: r.dockerLabels(labels, cfg.Annotations),
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(netMode),
		// App containers join the IPC namespace: it must be shareable.
		IpcMode:    "shareable",
		DNSSearch:  cfg.DNS.Searches,
		DNSOptions: cfg.DNS.Options,
	}
	for _, s := range cfg.DNS.Servers {
		host.DNS = append(host.DNS, netip.MustParseAddr(s)) // validated
	}
	if !cfg.Network.HostNetwork {
		config.Hostname = cfg.Hostname
		config.ExposedPorts, host.PortBindings = portBindings(cfg.PortMappings)
	}
	create := client.ContainerCreateOptions{
		Name:       r.name("POD", cfg.Name, cfg.Namespace, cfg.UID, strconv.FormatUint(uint64(cfg.Attempt), 10)),
		Config:     config,
		HostConfig: host,
	}

	res, err := r.api.ContainerCreate(ctx, create)
	if isNotFound(err) {
		// The pause image or the bridge network is missing: make sure of both
		// (someone may have removed the network since we cached it) and retry.
		if _, perr := r.PullImage(ctx, r.opts.PauseImage, runtime.PullOptions{Policy: runtime.PullIfNotPresent}); perr != nil {
			return "", fmt.Errorf("%s: pause image: %w", pod, perr)
		}
		r.forgetNetwork(cfg.Network.Bridge)
		if _, nerr := r.sandboxNetwork(ctx, cfg.Network); nerr != nil {
			return "", fmt.Errorf("%s: %w", pod, nerr)
		}
		res, err = r.api.ContainerCreate(ctx, create)
	}
	if err != nil {
		return "", wrap(pod, err, runtime.ErrAlreadyExists)
	}
	if _, err := r.api.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = r.api.ContainerRemove(rmCtx, res.ID, client.ContainerRemoveOptions{Force: true})
		return "", wrap(pod+": start", err, nil)
	}
	r.sandboxes.Store(res.ID, runtime.Sandbox{
		ID: res.ID, Name: cfg.Name, Namespace: cfg.Namespace, UID: cfg.UID, Attempt: cfg.Attempt,
	})
	return res.ID, nil
}

// portBindings converts port mappings to Docker's exposed ports and bindings.
func portBindings(pms []runtime.PortMapping) (network.PortSet, network.PortMap) {
	if len(pms) == 0 {
		return nil, nil
	}
	exposed, bindings := network.PortSet{}, network.PortMap{}
	for _, pm := range pms {
		proto := network.IPProtocol(strings.ToLower(string(pm.Protocol)))
		if proto == "" {
			proto = "tcp"
		}
		port, _ := network.PortFrom(uint16(pm.ContainerPort), proto) // validated
		exposed[port] = struct{}{}
		b := network.PortBinding{HostPort: strconv.Itoa(int(pm.HostPort))}
		if pm.HostIP != "" {
			b.HostIP = netip.MustParseAddr(pm.HostIP) // validated
		}
		bindings[port] = append(bindings[port], b)
	}
	return exposed, bindings
}

// sandboxNetwork returns the Docker network mode of a sandbox with nc,
// creating its bridge network when needed.
func (r *Runtime) sandboxNetwork(ctx context.Context, nc runtime.NetworkConfig) (string, error) {
	switch {
	case nc.HostNetwork:
		return "host", nil
	case nc.Bridge == "":
		return r.opts.DefaultNetwork, nil
	}
	if err := r.ensureNetwork(ctx, nc.Bridge, nc.Subnet); err != nil {
		return "", err
	}
	return nc.Bridge, nil
}

// ifnameMax is the longest Linux interface name.
const ifnameMax = 15

// ensureNetwork makes sure a Docker bridge network name exists, with subnet
// when one is given. It creates the network when absent, naming its Linux
// bridge device after it when the name fits an interface name.
func (r *Runtime) ensureNetwork(ctx context.Context, name string, subnet netip.Prefix) error {
	r.netMu.Lock()
	defer r.netMu.Unlock()
	if have, ok := r.networks[name]; ok && (!subnet.IsValid() || have == subnet) {
		return nil
	}
	obj := fmt.Sprintf("network %q", name)
	for attempt := 0; ; attempt++ {
		res, err := r.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		if err == nil {
			var subnets []netip.Prefix
			for _, c := range res.Network.IPAM.Config {
				subnets = append(subnets, c.Subnet)
			}
			if res.Network.Driver != "bridge" {
				return fmt.Errorf("%s: %w: driver is %q, not bridge", obj, runtime.ErrAlreadyExists, res.Network.Driver)
			}
			var have netip.Prefix
			if len(subnets) > 0 {
				have = subnets[0]
			}
			if subnet.IsValid() && !containsPrefix(subnets, subnet) {
				return fmt.Errorf("%s: %w with subnets %v, not %s", obj, runtime.ErrAlreadyExists, subnets, subnet)
			}
			if subnet.IsValid() {
				have = subnet
			}
			r.networks[name] = have
			return nil
		}
		if !isNotFound(err) {
			return wrap(obj, err, nil)
		}
		if attempt > 0 {
			return wrap(obj, err, nil)
		}
		opts := client.NetworkCreateOptions{
			Driver: "bridge",
			Labels: r.dockerLabels(map[string]string{runtime.LabelManaged: "true", runtime.LabelKind: "network"}, nil),
		}
		if len(name) <= ifnameMax {
			opts.Options = map[string]string{"com.docker.network.bridge.name": name}
		}
		if subnet.IsValid() {
			opts.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet}}}
		}
		if _, err := r.api.NetworkCreate(ctx, name, opts); err != nil && !isConflict(err) {
			return wrap(obj+": create", err, runtime.ErrAlreadyExists)
		}
		// Created (or someone else did at the same time): inspect it.
	}
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// forgetNetwork drops a network from the cache.
func (r *Runtime) forgetNetwork(name string) {
	r.netMu.Lock()
	delete(r.networks, name)
	r.netMu.Unlock()
}

// sandbox returns the identity of a sandbox of this runtime, from the cache
// or the daemon; ErrNotFound when id is not one.
func (r *Runtime) sandbox(ctx context.Context, id string) (runtime.Sandbox, error) {
	if sb, ok := r.sandboxes.Load(id); ok {
		return sb.(runtime.Sandbox), nil
	}
	st, err := r.SandboxStatus(ctx, id)
	if err != nil {
		return runtime.Sandbox{}, err
	}
	sb := runtime.Sandbox{ID: st.ID, Name: st.Name, Namespace: st.Namespace, UID: st.UID, Attempt: st.Attempt}
	r.sandboxes.Store(st.ID, sb)
	return sb, nil
}

// SandboxStatus inspects the pause container.
func (r *Runtime) SandboxStatus(ctx context.Context, id string) (runtime.SandboxStatus, error) {
	obj := fmt.Sprintf("sandbox %q", id)
	res, err := r.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.SandboxStatus{}, wrap(obj, err, nil)
	}
	c := res.Container
	if c.Config == nil || c.State == nil || c.HostConfig == nil || !r.owns(c.Config.Labels, runtime.LabelKindSandbox) {
		return runtime.SandboxStatus{}, fmt.Errorf("%s: %w", obj, runtime.ErrNotFound)
	}
	st := runtime.SandboxStatus{
		Sandbox:  sandboxFromLabels(c.ID, c.Config.Labels, c.State.Status == container.StateRunning, parseTime(c.Created)),
		Hostname: c.Config.Hostname,
	}
	mode := string(c.HostConfig.NetworkMode)
	switch mode {
	case "host":
		st.HostNetwork, st.Network = true, "host"
	case "default":
		mode = "bridge"
		fallthrough
	default:
		st.Network = mode
		if st.State == runtime.SandboxReady && c.NetworkSettings != nil {
			if ep := c.NetworkSettings.Networks[mode]; ep != nil && ep.IPAddress.IsValid() {
				st.IP = ep.IPAddress
			}
		}
		if st.State == runtime.SandboxReady && c.State.Pid > 0 {
			// The pause process holds the pod's namespace for as long as
			// it runs.
			st.NetNS = "/proc/" + strconv.Itoa(c.State.Pid) + "/ns/net"
		}
	}
	return st, nil
}

func sandboxFromLabels(id string, all map[string]string, running bool, created time.Time) runtime.Sandbox {
	labels, annotations := splitLabels(all)
	sb := runtime.Sandbox{
		ID:          id,
		Name:        labels[runtime.LabelPodName],
		Namespace:   labels[runtime.LabelPodNamespace],
		UID:         labels[runtime.LabelPodUID],
		Attempt:     runtime.ParseAttempt(labels[runtime.LabelSandboxAttempt]),
		State:       runtime.SandboxNotReady,
		CreatedAt:   created,
		Labels:      labels,
		Annotations: annotations,
	}
	if running {
		sb.State = runtime.SandboxReady
	}
	return sb
}

// ListSandboxes lists the pause containers of this runtime.
func (r *Runtime) ListSandboxes(ctx context.Context, filter runtime.SandboxFilter) ([]runtime.Sandbox, error) {
	f := r.baseFilters(runtime.LabelKindSandbox, filter.Labels)
	if filter.ID != "" {
		f.Add("id", filter.ID)
	}
	if filter.State == runtime.SandboxReady {
		f.Add("status", string(container.StateRunning))
	}
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, wrap("list sandboxes", err, nil)
	}
	out := make([]runtime.Sandbox, 0, len(res.Items))
	for _, c := range res.Items {
		if filter.ID != "" && c.ID != filter.ID {
			continue // Docker's id filter matches prefixes
		}
		sb := sandboxFromLabels(c.ID, c.Labels, c.State == container.StateRunning, time.Unix(c.Created, 0))
		if filter.State != "" && sb.State != filter.State {
			continue
		}
		out = append(out, sb)
	}
	return out, nil
}

// StopSandbox kills the sandbox's app containers and stops the pause
// container.
func (r *Runtime) StopSandbox(ctx context.Context, id string) error {
	obj := fmt.Sprintf("sandbox %q", id)
	if _, err := r.sandbox(ctx, id); isNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	ctrs, err := r.sandboxContainers(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", obj, err)
	}
	zero := 0
	if err := parallel(ctrs, func(cid string) error {
		_, err := r.api.ContainerStop(ctx, cid, client.ContainerStopOptions{Timeout: &zero})
		if isNotFound(err) {
			return nil
		}
		return wrap(fmt.Sprintf("%s: container %q: stop", obj, cid), err, nil)
	}); err != nil {
		return err
	}
	t := pauseStopTimeout
	if _, err := r.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &t}); err != nil && !isNotFound(err) {
		return wrap(obj+": stop", err, nil)
	}
	return nil
}

// RemoveSandbox removes the sandbox's app containers, then the pause
// container.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	obj := fmt.Sprintf("sandbox %q", id)
	if _, err := r.sandbox(ctx, id); isNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	ctrs, err := r.sandboxContainers(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", obj, err)
	}
	if err := parallel(ctrs, func(cid string) error {
		return r.RemoveContainer(ctx, cid)
	}); err != nil {
		return fmt.Errorf("%s: %w", obj, err)
	}
	if _, err := r.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
		return wrap(obj+": remove", err, nil)
	}
	r.sandboxes.Delete(id)
	return nil
}

// sandboxContainers lists the IDs of all containers of a sandbox.
func (r *Runtime) sandboxContainers(ctx context.Context, id string) ([]string, error) {
	f := r.baseFilters(runtime.LabelKindContainer, map[string]string{runtime.LabelSandboxID: id})
	res, err := r.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, wrap("list containers", err, nil)
	}
	ids := make([]string, len(res.Items))
	for i, c := range res.Items {
		ids[i] = c.ID
	}
	return ids, nil
}

// parallel runs f for every id concurrently and returns the first error.
func parallel(ids []string, f func(id string) error) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = f(id) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
