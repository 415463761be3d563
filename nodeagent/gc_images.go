package nodeagent

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gantryhq/gantry/runtime"
)

// imageRecords remember when each image was last seen in use (or first
// seen at all), by image ID: the runtime does not say. Safe for concurrent
// use; the zero value is ready.
type imageRecords struct {
	mu       sync.Mutex
	lastUsed map[string]time.Time
}

// collectImages removes unused images when the image filesystem is fuller
// than ImageGCHighThresholdPercent, least recently used first, until it
// would be below ImageGCLowThresholdPercent. Images in use, pinned
// (PinnedImages) or used less than ImageMinimumGCAge ago stay. It does
// nothing without ImageFSPath.
func (a *Agent) collectImages(ctx context.Context) error {
	if a.opts.ImageFSPath == "" {
		return nil
	}
	images, err := a.rt.ListImages(ctx)
	if err != nil {
		return fmt.Errorf("listing images: %w", err)
	}
	containers, err := a.rt.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	inUse := map[string]bool{}
	for _, c := range containers {
		inUse[c.ImageID] = true
	}
	now := a.clock.Now()
	a.images.mu.Lock()
	if a.images.lastUsed == nil {
		a.images.lastUsed = map[string]time.Time{}
	}
	seen := map[string]bool{}
	var candidates []runtime.Image
	for _, img := range images {
		seen[img.ID] = true
		if _, known := a.images.lastUsed[img.ID]; !known || inUse[img.ID] {
			a.images.lastUsed[img.ID] = now
		}
		pinned := slices.ContainsFunc(img.RepoTags, func(tag string) bool { return slices.Contains(a.opts.PinnedImages, tag) })
		if !inUse[img.ID] && !pinned && now.Sub(a.images.lastUsed[img.ID]) >= a.opts.ImageMinimumGCAge {
			candidates = append(candidates, img)
		}
	}
	for id := range a.images.lastUsed {
		if !seen[id] {
			delete(a.images.lastUsed, id)
		}
	}
	lastUsed := func(img runtime.Image) time.Time { return a.images.lastUsed[img.ID] }
	sort.SliceStable(candidates, func(i, j int) bool { return lastUsed(candidates[i]).Before(lastUsed(candidates[j])) })
	a.images.mu.Unlock()

	capacity, available, err := a.imageFSUsage(a.opts.ImageFSPath)
	if err != nil {
		return fmt.Errorf("image filesystem %s: %w", a.opts.ImageFSPath, err)
	}
	if capacity == 0 {
		return nil
	}
	used := capacity - min(available, capacity)
	if used*100 < uint64(a.opts.ImageGCHighThresholdPercent)*capacity {
		return nil
	}
	toFree := int64(used - min(used, uint64(a.opts.ImageGCLowThresholdPercent)*capacity/100))
	a.log.InfoContext(ctx, "image filesystem above its threshold: removing unused images",
		"usedPercent", used*100/capacity, "threshold", a.opts.ImageGCHighThresholdPercent, "bytesToFree", toFree)
	for _, img := range candidates {
		if toFree <= 0 {
			break
		}
		// By its tags (the image goes with the last), or by ID if it has
		// none: a runtime may refuse to remove a tagged image by ID.
		refs := img.RepoTags
		if len(refs) == 0 {
			refs = []string{img.ID}
		}
		var err error
		for _, ref := range refs {
			if err = a.rt.RemoveImage(ctx, ref); err != nil {
				break
			}
		}
		if err != nil {
			a.log.WarnContext(ctx, "removing an unused image", "image", img.RepoTags, "id", img.ID, "err", err)
			continue
		}
		a.log.InfoContext(ctx, "removed an unused image", "image", img.RepoTags, "id", img.ID, "size", img.Size)
		toFree -= img.Size
	}
	if toFree > 0 {
		return fmt.Errorf("image filesystem %s: %d bytes above the low threshold after removing every unused image", a.opts.ImageFSPath, toFree)
	}
	return nil
}
