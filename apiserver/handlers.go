package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// serveResource handles a request for a resource, a collection or a
// subresource: it finds the resource, runs the handler chain and dispatches
// on the verb.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	ctx := withRequestInfo(r.Context(), info)
	ctx = context.WithValue(ctx, fieldManagerKey{}, fieldManagerName(r))
	r = r.WithContext(ctx)
	rec := s.metrics.begin(info)
	w = rec.wrap(w)
	defer rec.end()

	r, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	attrs := Attributes{
		User: UserFrom(r.Context()), Verb: info.Verb, ResourceRequest: true,
		APIGroup: info.GroupVersion.Group, APIVersion: info.GroupVersion.Version,
		Namespace: info.Namespace, Resource: info.Resource, Subresource: info.Subresource, Name: info.Name,
	}
	if err := s.authorize(r.Context(), attrs, schema.GroupResource{Group: info.GroupVersion.Group, Resource: info.Resource}); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.resourceFor(info)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec.resource = res.Plural
	if info.Namespace != "" && !res.Namespaced {
		s.writeError(w, r, apierrors.NewNotFound(res.GroupResource(), info.Name))
		return
	}
	if err := s.checkSubresource(res, info); err != nil {
		s.writeError(w, r, err)
		return
	}

	if res.serve != nil {
		if err := res.serve(s, w, r, res, info); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	if stream := streamingSubresource(info.Subresource); stream != nil {
		if err := stream(s, w, r, res, info); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	switch info.Verb {
	case "get":
		err = s.handleGet(w, r, res, info)
	case "list":
		err = s.handleList(w, r, res, info)
	case "watch":
		err = s.handleWatch(w, r, res, info)
	case "create":
		err = s.handleCreate(w, r, res, info)
	case "update":
		err = s.handleUpdate(w, r, res, info)
	case "patch":
		err = s.handlePatch(w, r, res, info)
	case "delete":
		err = s.handleDelete(w, r, res, info)
	case "deletecollection":
		err = s.handleDeleteCollection(w, r, res, info)
	default:
		err = apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// checkSubresource rejects subresources the resource does not have and verbs
// a subresource does not support.
func (s *Server) checkSubresource(res *Resource, info requestInfo) error {
	verbs, ok := s.subresourceVerbs(res, info.Subresource)
	if !ok {
		return apierrors.NewNotFound(res.GroupResource(), info.Name+"/"+info.Subresource)
	}
	for _, v := range verbs {
		if v == info.Verb {
			return nil
		}
	}
	return apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb)
}

var (
	resourceVerbs     = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	readVerbs         = []string{"get", "list"}
	getOnlyVerbs      = []string{"get"}
	statusVerbs       = []string{"get", "patch", "update"}
	createOnlyVerbs   = []string{"create"}
	namespaceFinalize = []string{"update"}
)

// subresourceVerbs lists the verbs of one subresource of res ("" is the
// resource itself).
func (s *Server) subresourceVerbs(res *Resource, sub string) ([]string, bool) {
	switch sub {
	case "":
		if res.readOnly {
			return readVerbs, true
		}
		if res.createOnly {
			return createOnlyVerbs, true
		}
		return resourceVerbs, true
	case "status":
		return statusVerbs, res.Status
	case "scale":
		return statusVerbs, res.Scale != nil
	case "binding", "eviction":
		return createOnlyVerbs, isCorePods(res)
	case "token":
		return createOnlyVerbs, isCoreServiceAccounts(res) && s.opts.TokenIssuer != nil
	case "log":
		return getOnlyVerbs, isCorePods(res)
	case "exec":
		return execVerbs, isCorePods(res)
	case "attach":
		return attachVerbs, isCorePods(res)
	case "portforward":
		return portForwardVerbs, isCorePods(res)
	case "proxy":
		return nodeProxyVerbs, isCoreNodes(res)
	case "finalize":
		return namespaceFinalize, isCoreNamespaces(res)
	}
	return nil, false
}

// streamingSubresource is the handler of a subresource that the API server
// proxies to a node agent whatever the verb (exec, attach, portforward, proxy), nil for others.
func streamingSubresource(sub string) func(*Server, http.ResponseWriter, *http.Request, *Resource, requestInfo) error {
	switch sub {
	case "exec":
		return (*Server).handleExec
	case "attach":
		return (*Server).handleAttach
	case "portforward":
		return (*Server).handlePortForward
	case "proxy":
		return (*Server).handleNodeProxy
	}
	return nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	if info.Subresource == "log" {
		return s.handleLog(w, r, res, info)
	}
	obj, _, err := s.getObject(r.Context(), res, info.Namespace, info.Name)
	if err != nil {
		return err
	}
	if info.Subresource == "scale" {
		scale, err := s.scaleOf(res, obj)
		if err != nil {
			return err
		}
		return s.writeObject(w, r, nil, http.StatusOK, scale)
	}
	return s.writeObject(w, r, res, http.StatusOK, obj)
}

// readBody reads a request body, refusing more than the configured limit.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	limit := s.opts.MaxRequestBodyBytes
	if r.ContentLength > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if int64(len(body)) > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit))
	}
	if len(body) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	return body, nil
}

// fieldValidation is the directive of the fieldValidation query parameter.
type fieldValidation string

const (
	validationIgnore fieldValidation = "Ignore"
	validationWarn   fieldValidation = "Warn"
	validationStrict fieldValidation = "Strict"
)

func fieldValidationOf(r *http.Request) (fieldValidation, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return validationWarn, nil
	case string(validationIgnore), string(validationWarn), string(validationStrict):
		return fieldValidation(v), nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, Strict, not %q", v))
	}
}

// decodeBody decodes a request body in its Content-Type into a new object of
// the given kind, applying the fieldValidation directive: unknown or
// duplicate fields fail the request (Strict), become Warning headers (Warn)
// or are dropped (Ignore).
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, body []byte, into runtime.Object, contentType string) error {
	directive, err := fieldValidationOf(r)
	if err != nil {
		return err
	}
	dec, err := s.codecs.decoderFor(contentType, directive != validationIgnore)
	if err != nil {
		return err
	}
	gvks, _, err := s.codecs.scheme.ObjectKinds(into)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	want := gvks[0]
	obj, gvk, err := dec.Decode(body, &want, into)
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		if directive == validationStrict {
			return apierrors.NewBadRequest(fmt.Sprintf("strict decoding error: %s", strictErrors(err)))
		}
		for _, msg := range strictErrorList(err) {
			addWarning(w, msg)
		}
		err = nil
	}
	if err != nil && runtime.IsNotRegisteredError(err) && gvk != nil && gvk.GroupVersion() != want.GroupVersion() {
		err = nil // reported as a mismatch below
	} else if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the body of the request could not be decoded as %s: %v", want.Kind, err))
	}
	if gvk != nil && (gvk.Group != want.Group || gvk.Version != want.Version) {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", gvk.GroupVersion(), want.GroupVersion()))
	}
	if gvk != nil && gvk.Kind != want.Kind {
		return apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", gvk.Kind, want.Kind))
	}
	if obj != into {
		return apierrors.NewBadRequest(fmt.Sprintf("the body of the request is a %T, not a %s", obj, want.Kind))
	}
	return nil
}

func strictErrorList(err error) []string {
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		var out []string
		for _, e := range se.Errors() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

func strictErrors(err error) string { return strings.Join(strictErrorList(err), ", ") }

// addWarning adds a Warning header (RFC 7234 code 299), which kubectl prints.
func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", `299 - `+strconv.Quote(msg))
}

// checkObjectScope makes the namespace and name of a decoded object agree with
// the URL: a namespace in the body must equal the URL's, an empty one is taken
// from the URL; cluster-scoped objects have none.
func checkObjectScope(res *Resource, info requestInfo, accessor metav1.Object) error {
	if !res.Namespaced {
		accessor.SetNamespace("")
	} else {
		switch ns := accessor.GetNamespace(); {
		case ns == "":
			accessor.SetNamespace(info.Namespace)
		case info.Namespace != "" && ns != info.Namespace:
			return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if accessor.GetNamespace() == "" {
			return apierrors.NewBadRequest("a namespace is required for " + res.Plural)
		}
	}
	if info.Name != "" && accessor.GetName() != info.Name {
		if accessor.GetName() == "" {
			accessor.SetName(info.Name)
		} else {
			return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", accessor.GetName(), info.Name))
		}
	}
	return nil
}

// isDryRun reports dryRun=All; any other dryRun value is an error.
func isDryRun(r *http.Request) (bool, error) {
	values := r.URL.Query()["dryRun"]
	for _, v := range values {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("dryRun must be All, not %q", v))
		}
	}
	return len(values) > 0, nil
}

// invalid returns the 422 error for a failed validation of obj.
func invalid(res *Resource, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(res.GroupVersionKind.GroupKind(), name, errs)
}

// specChanged reports whether anything but metadata and status differs
// between two objects of the same type: a change that bumps generation.
func specChanged(a, b runtime.Object) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "ListMeta", "Status":
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return true
		}
	}
	return false
}

// copyStatus sets the Status field of dst to that of src.
func copyStatus(dst, src runtime.Object) {
	reflect.ValueOf(dst).Elem().FieldByName("Status").Set(reflect.ValueOf(src).Elem().FieldByName("Status"))
}

// resetStatus clears the Status field of obj.
func resetStatus(obj runtime.Object) {
	f := reflect.ValueOf(obj).Elem().FieldByName("Status")
	f.Set(reflect.Zero(f.Type()))
}

// copyAllButStatus sets everything of dst but Status and the metadata a
// status writer may change (labels, annotations) to src's.
func copyAllButStatus(dst, src runtime.Object) {
	vd, vs := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	t := vd.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "Status", "TypeMeta", "ObjectMeta":
			continue
		}
		vd.Field(i).Set(vs.Field(i))
	}
}

func mustAccessor(obj runtime.Object) metav1.Object {
	a, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("apiserver: %T has no object metadata: %v", obj, err))
	}
	return a
}
