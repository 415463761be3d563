package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/store"
)

// Finalizers the server adds for the non-default propagation policies; the
// garbage collector removes them once it has handled the dependents.
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// deleteOptions reads DeleteOptions from the query and, if present, the body.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts, err := deleteOptionsFromQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	if r.Body != nil && r.ContentLength != 0 {
		body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxRequestBodyBytes+1))
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
		}
		if int64(len(body)) > s.opts.MaxRequestBodyBytes {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", s.opts.MaxRequestBodyBytes))
		}
		if len(body) > 0 {
			dec, err := s.codecs.decoderFor(r.Header.Get("Content-Type"), false)
			if err != nil {
				return nil, err
			}
			gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
			if _, _, err := dec.Decode(body, &gvk, opts); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid delete options: %v", err))
			}
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		return nil, apierrors.NewBadRequest("gracePeriodSeconds must not be negative")
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy must be Background, Foreground or Orphan, not %q", *p))
		}
		if opts.OrphanDependents != nil {
			return nil, apierrors.NewBadRequest("orphanDependents and propagationPolicy are mutually exclusive")
		}
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("dryRun must be All, not %q", v))
		}
	}
	return opts, nil
}

// deleteOptionsFromQuery reads the delete options a client may put in the
// query string instead of the body.
func deleteOptionsFromQuery(q url.Values) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{DryRun: q["dryRun"]}
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("gracePeriodSeconds must be an integer, not %q", v))
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("orphanDependents must be a boolean, not %q", v))
		}
		opts.OrphanDependents = &b
	}
	return opts, nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	obj, gone, err := s.delete(r.Context(), res, info.Namespace, info.Name, opts)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if !gone {
		code = http.StatusAccepted
	}
	return s.writeObject(w, r, res, code, obj)
}

// delete deletes one object as opts say. It returns the last state of the
// object and whether it is gone (false: marked for deletion, waiting for a
// grace period or finalizers).
func (s *Server) delete(ctx context.Context, res *Resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	key := s.objectKey(res, namespace, name)
	dryRun := len(opts.DryRun) > 0
	for attempt := 0; ; attempt++ {
		current, rev, err := s.getObject(ctx, res, namespace, name)
		if err != nil {
			return nil, false, err
		}
		accessor := mustAccessor(current)
		if pre := opts.Preconditions; pre != nil {
			if pre.UID != nil && *pre.UID != accessor.GetUID() {
				return nil, false, apierrors.NewConflict(res.GroupResource(), name, fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", *pre.UID, accessor.GetUID()))
			}
			if pre.ResourceVersion != nil && *pre.ResourceVersion != accessor.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(res.GroupResource(), name, fmt.Errorf("precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *pre.ResourceVersion, accessor.GetResourceVersion()))
			}
		}

		if res.validateDelete != nil {
			if err := res.validateDelete(current); err != nil {
				return nil, false, err
			}
		}
		if attempt == 0 {
			adm := s.admissionRequest(ctx, Delete, res, "", namespace, name, nil, current, dryRun)
			if err := s.admitValidate(ctx, adm); err != nil {
				return nil, false, err
			}
		}
		grace := int64(0)
		if res.GracePeriod != nil {
			grace = res.GracePeriod(current, opts.GracePeriodSeconds)
		}
		marked := current.DeepCopyObject()
		m := mustAccessor(marked)
		addPropagationFinalizer(m, opts)
		if res.PrepareForDelete != nil {
			res.PrepareForDelete(marked)
		}
		pending := grace > 0 || len(m.GetFinalizers()) > 0 || !s.finalized(res, marked)

		if !pending {
			if dryRun {
				return current, true, nil
			}
			kv, err := s.opts.Store.Delete(ctx, key, rev)
			if errors.Is(err, store.ErrConflict) && attempt < updateAttempts {
				continue
			}
			if err != nil {
				return nil, false, storeError(err, res.GroupResource(), name)
			}
			if res.afterDelete != nil {
				res.afterDelete(ctx, s, current)
			}
			obj, err := s.decodeStored(res, kv.Value, rev)
			return obj, true, err
		}

		// Graceful: mark the object. A later delete may shorten the grace
		// period, never lengthen it.
		if cur := accessor.GetDeletionGracePeriodSeconds(); accessor.GetDeletionTimestamp() == nil || cur == nil || grace < *cur {
			t := metav1.NewTime(s.now().Add(time.Duration(grace) * time.Second).Truncate(time.Second))
			m.SetDeletionTimestamp(&t)
			m.SetDeletionGracePeriodSeconds(&grace)
		}
		if equalObjects(s, res, marked, current) {
			return current, false, nil
		}
		if dryRun {
			return marked, false, nil
		}
		value, err := s.encodeForStore(res, marked)
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		kv, err := s.opts.Store.Update(ctx, key, value, rev, store.WriteOptions{TTL: res.TTL})
		if errors.Is(err, store.ErrConflict) && attempt < updateAttempts {
			continue
		}
		if err != nil {
			return nil, false, storeError(err, res.GroupResource(), name)
		}
		obj, err := s.decodeStored(res, kv.Value, kv.ModRevision)
		return obj, false, err
	}
}

// addPropagationFinalizer adds the finalizer the propagation policy asks
// the garbage collector for.
func addPropagationFinalizer(m metav1.Object, opts *metav1.DeleteOptions) {
	policy := metav1.DeletePropagationBackground
	if opts.PropagationPolicy != nil {
		policy = *opts.PropagationPolicy
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents {
		policy = metav1.DeletePropagationOrphan
	}
	var add string
	switch policy {
	case metav1.DeletePropagationOrphan:
		add = finalizerOrphan
	case metav1.DeletePropagationForeground:
		add = finalizerForeground
	default:
		return
	}
	for _, f := range m.GetFinalizers() {
		if f == add {
			return
		}
	}
	m.SetFinalizers(append(m.GetFinalizers(), add))
}

func equalObjects(s *Server, res *Resource, a, b runtime.Object) bool {
	x, err1 := s.encodeForStore(res, a)
	y, err2 := s.encodeForStore(res, b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	if info.Subresource != "" {
		return apierrors.NewMethodNotSupported(res.GroupResource(), "deletecollection")
	}
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	sel, err := parseSelectors(r, res)
	if err != nil {
		return err
	}
	list, _, err := s.listObjects(r.Context(), res, info.Namespace, sel, listParams{})
	if err != nil {
		return err
	}
	for _, obj := range list {
		a := mustAccessor(obj)
		if _, _, err := s.delete(r.Context(), res, a.GetNamespace(), a.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return s.writeObject(w, r, nil, http.StatusOK, &metav1.Status{Status: metav1.StatusSuccess})
}
