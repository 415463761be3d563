package apiserver

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/store"
)

// updateAttempts bounds the retries of an update that lost a race with
// another writer when the client did not ask for a specific resourceVersion.
const updateAttempts = 16

// updateFunc computes the desired object from the current one (a copy the
// function may change). The returned object's resourceVersion, when set, is
// a precondition: it must equal the current one.
type updateFunc func(current runtime.Object) (runtime.Object, error)

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		return err
	}
	switch info.Subresource {
	case "scale":
		return s.handleScaleUpdate(w, r, res, info, body, dryRun)
	case "finalize":
		return s.handleFinalize(w, r, res, info, body, dryRun)
	}
	obj := res.New()
	if err := s.decodeBody(w, r, body, obj, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if err := checkObjectScope(res, info, mustAccessor(obj)); err != nil {
		return err
	}
	out, err := s.update(r.Context(), res, info, dryRun, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if err != nil {
		return err
	}
	return s.writeObject(w, r, res, http.StatusOK, out)
}

// update reads the current object, applies fn and writes the result with a
// compare-and-swap on the revision it read, retrying when another writer came
// first (unless fn's result names a resourceVersion: then it is a 409).
//
// The generic rules apply between fn and the store: server-owned metadata is
// kept, status and spec are kept apart by subresource, generation counts spec
// changes, defaults and validation run, and an object being deleted whose
// last finalizer was removed is deleted. An update that changes nothing is not
// written.
func (s *Server) update(ctx context.Context, res *Resource, info requestInfo, dryRun bool, fn updateFunc) (runtime.Object, error) {
	key := s.objectKey(res, info.Namespace, info.Name)
	for attempt := 0; ; attempt++ {
		current, rev, err := s.getObject(ctx, res, info.Namespace, info.Name)
		if err != nil {
			return nil, err
		}
		obj, err := fn(current.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		accessor, cur := mustAccessor(obj), mustAccessor(current)
		precondition := accessor.GetResourceVersion()
		if precondition != "" && precondition != cur.GetResourceVersion() {
			return nil, apierrors.NewConflict(res.GroupResource(), info.Name, errors.New(optimisticLockMessage))
		}
		if err := s.prepareUpdate(ctx, res, info.Subresource, obj, current, dryRun); err != nil {
			return nil, err
		}
		obj = s.trackUpdate(ctx, res, obj, current)
		accessor = mustAccessor(obj)

		if cur.GetDeletionTimestamp() != nil && len(accessor.GetFinalizers()) == 0 && s.finalized(res, obj) {
			if dryRun {
				return obj, nil
			}
			kv, err := s.opts.Store.Delete(ctx, key, rev)
			if errors.Is(err, store.ErrConflict) && precondition == "" && attempt < updateAttempts {
				continue
			}
			if err != nil {
				return nil, storeError(err, res.GroupResource(), info.Name)
			}
			if res.afterDelete != nil {
				res.afterDelete(ctx, s, current)
			}
			return s.decodeStored(res, kv.Value, rev)
		}

		out, retry, err := s.store(ctx, res, key, rev, obj, current, dryRun)
		if retry && precondition == "" && attempt < updateAttempts {
			continue
		}
		if err != nil {
			return nil, storeError(err, res.GroupResource(), info.Name)
		}
		return out, nil
	}
}

// store writes obj over current (read at rev) unless nothing changed,
// running the resource's write hook around it. retry reports a lost race.
func (s *Server) store(ctx context.Context, res *Resource, key string, rev int64, obj, current runtime.Object, dryRun bool) (_ runtime.Object, retry bool, err error) {
	accessor := mustAccessor(obj)
	if !dryRun && res.beforeWrite != nil {
		alloc, err := res.beforeWrite(ctx, s, obj, current)
		if err != nil {
			return nil, false, err
		}
		defer func() {
			if err != nil || retry {
				alloc.rollback(ctx)
			} else {
				alloc.commit(ctx)
			}
		}()
	}
	value, err := s.encodeForStore(res, obj)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	old, err := s.encodeForStore(res, current)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	if bytes.Equal(value, old) || dryRun {
		accessor.SetResourceVersion(mustAccessor(current).GetResourceVersion())
		return obj, false, nil
	}
	kv, err := s.opts.Store.Update(ctx, key, value, rev, store.WriteOptions{TTL: res.TTL})
	if errors.Is(err, store.ErrConflict) {
		return nil, true, err
	}
	if err != nil {
		return nil, false, err
	}
	out, err := s.decodeStored(res, kv.Value, kv.ModRevision)
	return out, false, err
}

// prepareUpdate applies the generic update rules to obj, the desired state,
// given current, the stored state; then defaults and validates obj.
func (s *Server) prepareUpdate(ctx context.Context, res *Resource, subresource string, obj, current runtime.Object, dryRun bool) error {
	accessor, cur := mustAccessor(obj), mustAccessor(current)
	switch {
	case subresource == "status":
		copyAllButStatus(obj, current)
	case res.Status:
		copyStatus(obj, current)
	}
	// Server-owned metadata cannot be changed by clients.
	accessor.SetUID(cur.GetUID())
	accessor.SetCreationTimestamp(cur.GetCreationTimestamp())
	accessor.SetDeletionTimestamp(cur.GetDeletionTimestamp())
	accessor.SetDeletionGracePeriodSeconds(cur.GetDeletionGracePeriodSeconds())
	accessor.SetGeneration(cur.GetGeneration())
	accessor.SetNamespace(cur.GetNamespace())
	accessor.SetName(cur.GetName())
	accessor.SetSelfLink("")
	if accessor.GetGenerateName() == "" {
		accessor.SetGenerateName(cur.GetGenerateName())
	}
	if res.PrepareForUpdate != nil {
		res.PrepareForUpdate(ctx, obj, current)
	}
	if res.Default != nil {
		res.Default(obj)
	}
	adm := s.admissionRequest(ctx, Update, res, subresource, cur.GetNamespace(), cur.GetName(), obj, current, dryRun)
	if err := s.admitMutate(ctx, adm); err != nil {
		return err
	}
	if res.Generation && specChanged(obj, current) {
		accessor.SetGeneration(cur.GetGeneration() + 1)
	}
	validate := res.ValidateUpdate
	if subresource == "status" && res.ValidateStatusUpdate != nil {
		validate = res.ValidateStatusUpdate
	}
	if validate != nil {
		if errs := validate(obj, current); len(errs) > 0 {
			return invalid(res, accessor.GetName(), errs)
		}
	}
	return s.admitValidate(ctx, adm)
}

// finalized reports whether nothing resource-specific holds up the deletion
// of obj.
func (s *Server) finalized(res *Resource, obj runtime.Object) bool {
	return res.Finalized == nil || res.Finalized(obj)
}
