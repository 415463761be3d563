package nodeagent

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gantryhq/gantry/runtime"
)

// collectGarbage removes exited containers (see GarbageCollect) and then
// unused images (see collectImages). The agent runs it every
// ContainerGCInterval.
func (a *Agent) collectGarbage(ctx context.Context) {
	if err := a.GarbageCollect(ctx); err != nil && ctx.Err() == nil {
		a.log.WarnContext(ctx, "collecting dead containers", "err", err)
	}
	if err := a.collectImages(ctx); err != nil && ctx.Err() == nil {
		a.log.WarnContext(ctx, "collecting unused images", "err", err)
	}
}

// GarbageCollect removes the exited containers of this node's pods beyond
// the limits of Options (MaxPerPodContainer, MaxContainers, MinimumGCAge),
// oldest first, always keeping the newest attempt of each container (its
// status and restart count are read from it). Containers of pods that are
// gone go with their sandboxes, which housekeeping removes. The agent calls
// it every ContainerGCInterval; it is safe to call concurrently with Run.
// Images are collected after it, see Options.ImageFSPath.
func (a *Agent) GarbageCollect(ctx context.Context) error {
	sandboxes, err := a.rt.ListSandboxes(ctx, runtime.SandboxFilter{Labels: map[string]string{runtime.LabelNode: a.opts.NodeName}})
	if err != nil {
		return fmt.Errorf("listing sandboxes: %w", err)
	}
	ours := make(map[string]bool, len(sandboxes))
	for _, sb := range sandboxes {
		ours[sb.ID] = true
	}
	containers, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	// Group the containers of each container name of each pod.
	type group struct {
		newest uint32
		dead   []runtime.Container
	}
	groups := map[string]*group{}
	for _, c := range containers {
		if !ours[c.SandboxID] {
			continue
		}
		key := c.Labels[runtime.LabelPodUID] + "/" + c.Name
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
		}
		g.newest = max(g.newest, c.Attempt)
		if c.State == runtime.ContainerExited {
			g.dead = append(g.dead, c)
		}
	}
	now := a.clock.Now()
	var evictable []runtime.Container
	kept := 0
	for _, g := range groups {
		sort.Slice(g.dead, func(i, j int) bool { return g.dead[i].Attempt > g.dead[j].Attempt })
		keep := a.opts.MaxPerPodContainer
		for i, c := range g.dead {
			switch {
			case c.Attempt == g.newest: // the latest attempt: its status is the container's
				kept++
				keep--
			case keep > 0 || a.opts.MaxPerPodContainer < 0,
				now.Sub(c.CreatedAt) < a.opts.MinimumGCAge:
				kept++
				keep--
				if a.opts.MaxContainers > 0 {
					evictable = append(evictable, g.dead[i])
				}
			default:
				a.removeDead(ctx, c)
			}
		}
	}
	// Beyond the node-wide limit, the oldest of what was kept goes (never
	// the latest attempt of a container).
	if a.opts.MaxContainers > 0 && kept > a.opts.MaxContainers {
		sort.Slice(evictable, func(i, j int) bool { return evictable[i].CreatedAt.Before(evictable[j].CreatedAt) })
		for _, c := range evictable {
			if kept <= a.opts.MaxContainers {
				break
			}
			if now.Sub(c.CreatedAt) < a.opts.MinimumGCAge {
				continue
			}
			a.removeDead(ctx, c)
			kept--
		}
	}
	if a.podsSynced.Load() {
		if live, err := a.livePods(); err == nil {
			a.pulls.forget(live)
		}
	}
	return nil
}

func (a *Agent) removeDead(ctx context.Context, c runtime.Container) {
	if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
		a.log.WarnContext(ctx, "removing a dead container", "container", c.Name, "id", c.ID, "err", err)
		return
	}
	a.log.DebugContext(ctx, "removed a dead container", "pod", c.Labels[runtime.LabelPodNamespace]+"/"+c.Labels[runtime.LabelPodName],
		"container", c.Name, "attempt", c.Attempt, "age", a.clock.Since(c.CreatedAt).Round(time.Second))
}
