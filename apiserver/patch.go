package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// maxJSONPatchOperations bounds the operations of one JSON patch.
const maxJSONPatchOperations = 10000

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return errUnsupportedMediaType(r.Header.Get("Content-Type"), supportedPatchTypes)
	}
	patchType := types.PatchType(mediaType)
	switch patchType {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
	default:
		return errUnsupportedMediaType(mediaType, supportedPatchTypes)
	}
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		return err
	}
	if _, err := fieldValidationOf(r); err != nil {
		return err
	}

	if patchType == types.ApplyYAMLPatchType {
		return s.handleApply(w, r, res, info, body, dryRun)
	}
	// The scale subresource patches a Scale, not the object.
	if info.Subresource == "scale" {
		return s.handleScalePatch(w, r, res, info, patchType, body, dryRun)
	}
	out, err := s.update(r.Context(), res, info, dryRun, func(current runtime.Object) (runtime.Object, error) {
		return s.applyPatch(w, r, res, patchType, body, current, res.New())
	})
	if err != nil {
		return err
	}
	return s.writeObject(w, r, res, http.StatusOK, out)
}

var supportedPatchTypes = []string{string(types.JSONPatchType), string(types.MergePatchType), string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType)}

// applyPatch applies a patch of patchType to current and decodes the result
// into into, with the request's field validation.
func (s *Server) applyPatch(w http.ResponseWriter, r *http.Request, res *Resource, patchType types.PatchType, patch []byte, current, into runtime.Object) (runtime.Object, error) {
	// The patch applies to the object without its resourceVersion: a
	// resourceVersion in the result then comes from the patch itself and is
	// a precondition; without one the server retries the patch on a newer
	// object when another writer came first.
	a := mustAccessor(current)
	rv := a.GetResourceVersion()
	a.SetResourceVersion("")
	original, err := json.Marshal(current)
	a.SetResourceVersion(rv)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var patched []byte
	switch patchType {
	case types.JSONPatchType:
		ops, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("malformed JSON patch: %v", err))
		}
		if len(ops) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the JSON patch has %d operations, the limit is %d", len(ops), maxJSONPatchOperations))
		}
		if patched, err = ops.Apply(original); err != nil {
			return nil, errUnprocessable(fmt.Sprintf("applying the JSON patch to %s %q: %v", res.GroupVersionKind.Kind, mustAccessor(current).GetName(), err))
		}
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("the merge patch is not valid JSON")
		}
		if patched, err = jsonpatch.MergePatch(original, patch); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("applying the merge patch: %v", err))
		}
	case types.StrategicMergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("the strategic merge patch is not valid JSON")
		}
		if patched, err = strategicpatch.StrategicMergePatch(original, patch, into); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("applying the strategic merge patch: %v", err))
		}
	}
	if err := s.decodeBody(w, r, patched, into, "application/json"); err != nil {
		return nil, err
	}
	// A patch must not move the object.
	p, c := mustAccessor(into), mustAccessor(current)
	if p.GetName() != c.GetName() || p.GetNamespace() != c.GetNamespace() {
		return nil, apierrors.NewBadRequest("a patch cannot change metadata.name or metadata.namespace")
	}
	return into, nil
}
