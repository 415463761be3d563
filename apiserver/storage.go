package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/store"
)

// Objects are kept in the store as JSON of their served version, without
// resourceVersion: that is the key's ModRevision, set on every read.

func (s *Server) objectKey(res *Resource, namespace, name string) string {
	if !res.Namespaced {
		namespace = ""
	}
	return store.ObjectKey(res.Plural, namespace, name)
}

func (s *Server) objectPrefix(res *Resource, namespace string) string {
	if !res.Namespaced {
		namespace = ""
	}
	return store.ObjectPrefix(res.Plural, namespace)
}

// encodeForStore returns the stored form of obj.
func (s *Server) encodeForStore(res *Resource, obj runtime.Object) ([]byte, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := accessor.GetResourceVersion()
	accessor.SetResourceVersion("")
	defer accessor.SetResourceVersion(rv)
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind)
	return runtime.Encode(s.codecs.factory.LegacyCodec(res.GroupVersionKind.GroupVersion()), obj)
}

// decodeStored turns a stored value into an object of res.
func (s *Server) decodeStored(res *Resource, value []byte, revision int64) (runtime.Object, error) {
	obj := res.New()
	if err := runtime.DecodeInto(s.codecs.factory.UniversalDeserializer(), value, obj); err != nil {
		return nil, fmt.Errorf("decoding stored %s: %w", res.GroupResource(), err)
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	accessor.SetResourceVersion(strconv.FormatInt(revision, 10))
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind)
	return obj, nil
}

// getObject reads one object and its store revision.
func (s *Server) getObject(ctx context.Context, res *Resource, namespace, name string) (runtime.Object, int64, error) {
	kv, err := s.opts.Store.Get(ctx, s.objectKey(res, namespace, name))
	if err != nil {
		return nil, 0, storeError(err, res.GroupResource(), name)
	}
	obj, err := s.decodeStored(res, kv.Value, kv.ModRevision)
	return obj, kv.ModRevision, err
}

// storeError maps a store error to the API error a client gets.
func storeError(err error, gr schema.GroupResource, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, store.ErrAlreadyExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, store.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(optimisticLockMessage))
	case errors.Is(err, store.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	case errors.Is(err, store.ErrFutureRevision):
		return apierrors.NewTimeoutError("Too large resource version", 1)
	case errors.Is(err, store.ErrInvalid):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(err.Error(), 0)
	case errors.Is(err, store.ErrClosed):
		return apierrors.NewServiceUnavailable(err.Error())
	}
	return apierrors.NewInternalError(err)
}

const optimisticLockMessage = "the object has been modified; please apply your changes to the latest version and try again"

func errGone(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: msg,
	}}
}

func errUnprocessable(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnprocessableEntity, Reason: metav1.StatusReasonInvalid, Message: msg,
	}}
}
