package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/gantryhq/gantry/runtime"
)

// PullImage applies the pull policy; pulls go through the daemon, which
// reaches the registry.
func (r *Runtime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.Image, error) {
	obj := fmt.Sprintf("image %q", ref)
	if err := opts.Validate(); err != nil {
		return runtime.Image{}, fmt.Errorf("%s: %w", obj, err)
	}
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return runtime.Image{}, fmt.Errorf("%s: %w: %w", obj, runtime.ErrInvalidArgument, err)
	}
	if opts.Policy != runtime.PullAlways {
		img, err := r.ImageStatus(ctx, ref)
		if err == nil || !errors.Is(err, runtime.ErrNotFound) {
			return img, err
		}
		if opts.Policy == runtime.PullNever {
			return runtime.Image{}, fmt.Errorf("%s: %w", obj, runtime.ErrImageNeverPull)
		}
	}

	auths := opts.Auth
	if len(auths) == 0 {
		auths = []runtime.AuthConfig{{}}
	}
	var err error
	for _, a := range auths {
		if err = r.pull(ctx, ref, a); err == nil {
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return runtime.Image{}, fmt.Errorf("%s: %w: %w", obj, runtime.ErrImagePull, err)
	}
	return r.ImageStatus(ctx, ref)
}

// pull pulls ref with one set of credentials (none when a is zero).
func (r *Runtime) pull(ctx context.Context, ref string, a runtime.AuthConfig) error {
	var po client.ImagePullOptions
	if a != (runtime.AuthConfig{}) {
		enc, err := authconfig.Encode(registry.AuthConfig{
			Username:      a.Username,
			Password:      a.Password,
			Auth:          a.Auth,
			ServerAddress: a.ServerAddress,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		})
		if err != nil {
			return err
		}
		po.RegistryAuth = enc
	}
	resp, err := r.api.ImagePull(ctx, ref, po)
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(ctx)
}

// ImageStatus inspects a local image.
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (runtime.Image, error) {
	res, err := r.api.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, wrap(fmt.Sprintf("image %q", ref), err, nil)
	}
	return runtime.Image{ID: res.ID, RepoTags: res.RepoTags, RepoDigests: res.RepoDigests, Size: res.Size}, nil
}

// ListImages lists the daemon's images (without intermediate layers).
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	res, err := r.api.ImageList(ctx, client.ImageListOptions{})
	if err != nil {
		return nil, wrap("list images", err, nil)
	}
	out := make([]runtime.Image, len(res.Items))
	for i, s := range res.Items {
		out[i] = imageFromSummary(s)
	}
	return out, nil
}

func imageFromSummary(s image.Summary) runtime.Image {
	return runtime.Image{ID: s.ID, RepoTags: s.RepoTags, RepoDigests: s.RepoDigests, Size: s.Size}
}

// RemoveImage untags ref and deletes the image when no tag is left.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	_, err := r.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err == nil || isNotFound(err) {
		return nil
	}
	return wrap(fmt.Sprintf("image %q: remove", ref), err, nil)
}
