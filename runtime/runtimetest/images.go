package runtimetest

import (
	"context"
	"errors"
	"slices"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gantryhq/gantry/runtime"
)

func testPullPolicies(h *harness) {
	t := h.t
	absent := "gantry.local/absent-" + h.id + ":1"
	unreachable := "gantry.invalid/absent-" + h.id + ":1"
	for _, tc := range []struct {
		name    string
		ref     string
		policy  runtime.PullPolicy
		wantErr error // nil: success
	}{
		{"IfNotPresent, present", Busybox, runtime.PullIfNotPresent, nil},
		{"default policy, present", Busybox, "", nil},
		{"Never, present", Busybox, runtime.PullNever, nil},
		{"Never, absent", absent, runtime.PullNever, runtime.ErrImageNeverPull},
		{"IfNotPresent, unreachable registry", unreachable, runtime.PullIfNotPresent, runtime.ErrImagePull},
		{"Always, unreachable registry", unreachable, runtime.PullAlways, runtime.ErrImagePull},
		{"bad policy", Busybox, "Sometimes", runtime.ErrInvalidArgument},
		{"bad reference", "UPPER/Case::x", runtime.PullIfNotPresent, runtime.ErrInvalidArgument},
	} {
		ctx, cancel := context.WithTimeout(h.ctx, pullTimeout)
		img, err := h.rt.PullImage(ctx, tc.ref, runtime.PullOptions{Policy: tc.policy})
		cancel()
		if tc.wantErr == nil {
			if assert.NoError(t, err, tc.name) {
				assert.NotEmpty(t, img.ID, tc.name)
			}
			continue
		}
		assert.ErrorIs(t, err, tc.wantErr, tc.name)
		if err != nil {
			assert.Contains(t, err.Error(), tc.ref, "%s: the error names the image", tc.name)
		}
		if errors.Is(tc.wantErr, runtime.ErrImagePull) {
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "%s: a pull from an unreachable registry fails fast, not by timeout", tc.name)
		}
	}
	// Credentials are accepted (and do not help an unreachable registry).
	ctx, cancel := context.WithTimeout(h.ctx, pullTimeout)
	defer cancel()
	_, err := h.rt.PullImage(ctx, unreachable, runtime.PullOptions{
		Policy: runtime.PullIfNotPresent,
		Auth: []runtime.AuthConfig{
			{ServerAddress: "gantry.invalid", Username: "u", Password: "p"},
			{ServerAddress: "gantry.invalid", IdentityToken: "t"},
		},
	})
	assert.ErrorIs(t, err, runtime.ErrImagePull, "pull with credentials")
	_, err = h.rt.ImageStatus(h.ctx, unreachable)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "a failed pull leaves no image")
}

func testImages(h *harness) {
	t := h.t
	h.pullLocal(Busybox)
	st, err := h.rt.ImageStatus(h.ctx, Busybox)
	require.NoError(t, err)
	assert.NotEmpty(t, st.ID)
	assert.Contains(t, st.RepoTags, Busybox)
	_, err = h.rt.ImageStatus(h.ctx, "gantry.local/absent-"+h.id+":1")
	assert.ErrorIs(t, err, runtime.ErrNotFound)

	all, err := h.rt.ListImages(h.ctx)
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(all, func(i runtime.Image) bool { return i.ID == st.ID && slices.Contains(i.RepoTags, Busybox) }),
		"ListImages has %s", Busybox)

	require.NoError(t, h.rt.RemoveImage(h.ctx, "gantry.local/absent-"+h.id+":1"), "removing an absent image")

	if h.cfg.removableImage == nil {
		t.Skip("no RemovableImage option: not removing a present image")
	}
	ref := h.cfg.removableImage(t, h.rt)
	_, err = h.rt.ImageStatus(h.ctx, ref)
	require.NoError(t, err, "RemovableImage %s must be present", ref)
	require.NoError(t, h.rt.RemoveImage(h.ctx, ref))
	_, err = h.rt.ImageStatus(h.ctx, ref)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "after RemoveImage")
	all, err = h.rt.ListImages(h.ctx)
	require.NoError(t, err)
	for _, i := range all {
		assert.NotContains(t, i.RepoTags, ref)
	}
	require.NoError(t, h.rt.RemoveImage(h.ctx, ref), "removing twice")
}
