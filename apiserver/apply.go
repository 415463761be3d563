package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

// Server-side apply: an apply patch (application/apply-patch+yaml) is the
// full intent of one field manager; apimachinery's field manager merges it
// into the live object with the structured-merge-diff rules of the types'
// OpenAPI schemas and records who owns which fields in managedFields.

// fieldManagers builds one field manager per served kind on first use.
type fieldManagers struct {
	s         *Server
	converter func() (managedfields.TypeConverter, error)
	mu        sync.Mutex
	byKind    map[*Resource]*managedfields.FieldManager
}

func newFieldManagers(s *Server, docs *openAPI) *fieldManagers {
	return &fieldManagers{
		s:      s,
		byKind: map[*Resource]*managedfields.FieldManager{},
		converter: sync.OnceValues(func() (managedfields.TypeConverter, error) {
			d, err := docs.build()
			if err != nil {
				return nil, err
			}
			var doc struct {
				Definitions map[string]*spec.Schema `json:"definitions"`
			}
			if err := json.Unmarshal(d.V2(), &doc); err != nil {
				return nil, fmt.Errorf("reading the OpenAPI definitions: %w", err)
			}
			return managedfields.NewTypeConverter(doc.Definitions, false)
		}),
	}
}

func (f *fieldManagers) get(res *Resource) (*managedfields.FieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.byKind[res]; ok {
		return fm, nil
	}
	tc, err := f.converter()
	if err != nil {
		return nil, err
	}
	fm, err := managedfields.NewDefaultFieldManager(tc, f.s.codecs.scheme, defaulter{res}, f.s.codecs.scheme,
		res.GroupVersionKind, res.GroupVersionKind.GroupVersion(), "", nil)
	if err != nil {
		return nil, err
	}
	f.byKind[res] = fm
	return fm, nil
}

// defaulter adapts a resource's defaults to runtime.ObjectDefaulter.
type defaulter struct{ res *Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Default == nil {
		return
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		d.res.Default(obj)
		return
	}
	// The field manager defaults the applied configuration as unstructured
	// content: default it as the typed object, so that list keys with
	// defaults (a service port's protocol) match the live object's.
	typed := d.res.New()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
		return
	}
	d.res.Default(typed)
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(typed)
	if err != nil {
		return
	}
	// Keep the applied configuration's own view of metadata: only spec
	// and the like gain defaults.
	content["metadata"] = u.Object["metadata"]
	content["apiVersion"], content["kind"] = u.GetAPIVersion(), u.GetKind()
	if _, had := u.Object["status"]; !had {
		delete(content, "status")
	}
	u.Object = content
}

// handleApply serves an apply patch: it creates the object if it does not
// exist and merges the applied configuration into it otherwise.
func (s *Server) handleApply(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo, body []byte, dryRun bool) error {
	q := r.URL.Query()
	manager := q.Get("fieldManager")
	if manager == "" {
		return apierrors.NewBadRequest("PATCH with an apply patch requires the fieldManager parameter")
	}
	force := isTrue(q.Get("force"))
	if info.Subresource != "" {
		return apierrors.NewMethodNotSupported(res.GroupResource(), "apply to a subresource")
	}
	jsonBody, err := yaml.YAMLToJSONStrict(body)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the apply patch is not valid YAML or JSON: %v", err))
	}
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(jsonBody); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the apply patch is not an object: %v", err))
	}
	if gvk := applied.GroupVersionKind(); gvk != res.GroupVersionKind {
		return apierrors.NewBadRequest(fmt.Sprintf("the apply patch is a %s, the URL names a %s", gvk, res.GroupVersionKind))
	}
	if applied.GetName() != "" && applied.GetName() != info.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", applied.GetName(), info.Name))
	}
	if ns := applied.GetNamespace(); res.Namespaced && ns != "" && ns != info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if len(applied.GetManagedFields()) > 0 {
		return apierrors.NewBadRequest("metadata.managedFields must be nil in an apply patch")
	}
	fm, err := s.fieldManagers.get(res)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	apply := func(live runtime.Object) (runtime.Object, error) {
		out, err := fm.Apply(live, applied.DeepCopy(), manager, force)
		if err != nil {
			if apierrors.IsConflict(err) {
				return nil, err
			}
			return nil, errUnprocessable(err.Error())
		}
		// The applied configuration names no resourceVersion: the write
		// is guarded by the revision read, and retried if that changes.
		mustAccessor(out).SetResourceVersion("")
		return out, nil
	}

	ctx := context.WithValue(r.Context(), applyingKey{}, true)
	out, err := s.update(ctx, res, info, dryRun, apply)
	if apierrors.IsNotFound(err) {
		empty := res.New()
		a := mustAccessor(empty)
		a.SetName(info.Name)
		a.SetNamespace(info.Namespace)
		empty.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind)
		obj, aerr := apply(empty)
		if aerr != nil {
			return aerr
		}
		created, cerr := s.create(ctx, res, info, obj, dryRun)
		if cerr != nil {
			return cerr
		}
		return s.writeObject(w, r, res, http.StatusCreated, created)
	}
	if err != nil {
		return err
	}
	return s.writeObject(w, r, res, http.StatusOK, out)
}

type fieldManagerKey struct{}
type applyingKey struct{}

// fieldManagerName is who a write is recorded as in managedFields: the
// fieldManager parameter, else the client's user agent up to the first "/"
// ("kubectl", "kubectl-edit"), as Kubernetes names it.
func fieldManagerName(r *http.Request) string {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		return m
	}
	ua := r.Header.Get("User-Agent")
	if i := strings.IndexByte(ua, '/'); i >= 0 {
		ua = ua[:i]
	}
	if ua == "" {
		ua = "unknown"
	}
	return ua
}

// trackUpdate records a non-apply write in managedFields, so that later
// applies see who changed which field. Objects that no apply ever touched
// (no managedFields) are left alone and pay nothing for it.
func (s *Server) trackUpdate(ctx context.Context, res *Resource, obj, current runtime.Object) runtime.Object {
	if len(mustAccessor(current).GetManagedFields()) == 0 || ctx.Value(applyingKey{}) != nil {
		return obj
	}
	fm, err := s.fieldManagers.get(res)
	if err != nil {
		return obj
	}
	manager, _ := ctx.Value(fieldManagerKey{}).(string)
	if manager == "" {
		manager = "unknown"
	}
	return fm.UpdateNoErrors(current, obj, manager)
}
