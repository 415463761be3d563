package apiserver

import (
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/gantryhq/gantry/store"
)

// generateNameAttempts bounds the retries when a generated name is taken.
const generateNameAttempts = 8

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	switch info.Subresource {
	case "binding":
		return s.handleBinding(w, r, res, info)
	case "eviction":
		return s.handleEviction(w, r, res, info)
	case "token":
		return s.handleTokenRequest(w, r, res, info)
	}
	if info.Name != "" {
		return apierrors.NewMethodNotSupported(res.GroupResource(), "create")
	}
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	obj := res.New()
	if err := s.decodeBody(w, r, body, obj, r.Header.Get("Content-Type")); err != nil {
		return err
	}
	dryRun, err := isDryRun(r)
	if err != nil {
		return err
	}
	created, err := s.create(r.Context(), res, info, obj, dryRun)
	if err != nil {
		return err
	}
	return s.writeObject(w, r, res, http.StatusCreated, created)
}

// create runs the create path for a decoded object: scope, server-set
// metadata, defaults, admission, validation, and the store.
func (s *Server) create(ctx context.Context, res *Resource, info requestInfo, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	accessor := mustAccessor(obj)
	if err := checkObjectScope(res, info, accessor); err != nil {
		return nil, err
	}
	if res.Namespaced {
		if err := s.checkNamespaceAccepts(ctx, accessor.GetNamespace()); err != nil {
			return nil, err
		}
	}
	generated := accessor.GetName() == "" && accessor.GetGenerateName() != ""
	for attempt := 0; ; attempt++ {
		if generated {
			accessor.SetName(accessor.GetGenerateName() + rand.String(5))
		}
		out, err := s.createOnce(ctx, res, obj, dryRun)
		if generated && apierrors.IsAlreadyExists(err) && attempt < generateNameAttempts {
			continue
		}
		return out, err
	}
}

func (s *Server) createOnce(ctx context.Context, res *Resource, obj runtime.Object, dryRun bool) (_ runtime.Object, err error) {
	accessor := mustAccessor(obj)
	accessor.SetUID(uuid.NewUUID())
	accessor.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(1e9)))
	accessor.SetResourceVersion("")
	accessor.SetDeletionTimestamp(nil)
	accessor.SetDeletionGracePeriodSeconds(nil)
	accessor.SetSelfLink("")
	if res.Generation {
		accessor.SetGeneration(1)
	} else {
		accessor.SetGeneration(0)
	}
	if res.Status {
		resetStatus(obj)
	}
	if res.PrepareForCreate != nil {
		res.PrepareForCreate(ctx, obj)
	}
	if res.Default != nil {
		res.Default(obj)
	}
	adm := s.admissionRequest(ctx, Create, res, "", accessor.GetNamespace(), accessor.GetName(), obj, nil, dryRun)
	if err := s.admitMutate(ctx, adm); err != nil {
		return nil, err
	}
	if res.Validate != nil {
		if errs := res.Validate(obj); len(errs) > 0 {
			return nil, invalid(res, accessor.GetName(), errs)
		}
	}
	if err := s.admitValidate(ctx, adm); err != nil {
		return nil, err
	}
	if dryRun {
		return obj, nil
	}
	if res.beforeWrite != nil {
		alloc, err := res.beforeWrite(ctx, s, obj, nil)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				alloc.rollback(ctx)
			}
		}()
	}
	value, err := s.encodeForStore(res, obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	kv, err := s.opts.Store.Create(ctx, s.objectKey(res, accessor.GetNamespace(), accessor.GetName()), value, store.WriteOptions{TTL: res.TTL})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return nil, invalid(res, accessor.GetName(), nil)
		}
		return nil, storeError(err, res.GroupResource(), accessor.GetName())
	}
	return s.decodeStored(res, kv.Value, kv.ModRevision)
}
