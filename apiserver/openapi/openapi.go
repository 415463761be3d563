package openapi

import (
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Verbs a Resource or Subresource may list. They are the Kubernetes
// discovery verbs; each one adds the matching operations to the documents.
const (
	VerbGet              = "get"
	VerbList             = "list"
	VerbWatch            = "watch"
	VerbCreate           = "create"
	VerbUpdate           = "update"
	VerbPatch            = "patch"
	VerbDelete           = "delete"
	VerbDeleteCollection = "deletecollection"
)

// ErrInvalidConfig is wrapped by the errors New returns for a Config it
// cannot build documents from.
var ErrInvalidConfig = errors.New("invalid openapi config")

// Config says what the documents describe. New validates it once.
type Config struct {
	// Title and Version fill the info object of every document
	// (Kubernetes uses "Kubernetes" and its git version). Title defaults to
	// "gantry" and Version to "unversioned".
	Title   string
	Version string

	// Resources are the served resources. Their group-versions become the
	// /openapi/v3 documents. Every GroupVersionKind may appear once.
	Resources []Resource

	// FieldValidation says the server honors the fieldValidation query
	// parameter (Strict, Warn, Ignore) on create, update and patch. When it
	// is set the parameter is published and kubectl leaves field validation
	// to the server; when it is not, kubectl validates manifests itself
	// against /openapi/v2 before sending them.
	FieldValidation bool
}

// Resource describes one served resource.
type Resource struct {
	// GroupVersionKind of Object, e.g. {Version: "v1", Kind: "Pod"}; the
	// core group is "".
	GroupVersionKind schema.GroupVersionKind
	// Plural is the resource name in paths, e.g. "pods".
	Plural string
	// Namespaced resources live under /namespaces/{namespace}/.
	Namespaced bool
	// Object is a zero value of the served type, e.g. &corev1.Pod{}.
	Object runtime.Object
	// List is a zero value of the list type, e.g. &corev1.PodList{}. It is
	// required when Verbs has list, watch or deletecollection; its kind is
	// the resource kind + "List".
	List runtime.Object
	// Verbs is a subset of the Verb constants.
	Verbs []string
	// Subresources are served below /<plural>/{name}/.
	Subresources []Subresource
}

// Subresource describes a subresource such as status, scale, binding,
// eviction or log.
type Subresource struct {
	// Name is the path segment, e.g. "status".
	Name string
	// Object is the body read and written, e.g. &autoscalingv1.Scale{}.
	// Nil means a plain text body (pods/log).
	Object runtime.Object
	// GroupVersionKind of Object. It may be left zero when Object has the
	// parent's Go type (status) or is a Kubernetes type known to client-go's
	// scheme (Scale, Binding, Eviction).
	GroupVersionKind schema.GroupVersionKind
	// Verbs is a subset of get, create, update and patch.
	Verbs []string
	// Parameters are extra query parameters of the get operation, e.g.
	// container and follow for pods/log.
	Parameters []Parameter
}

// Parameter is a query parameter of an operation.
type Parameter struct {
	Name        string
	Type        string // string, integer or boolean
	Description string
}

// Documents holds the built documents. It is immutable and safe for
// concurrent use; ServeHTTP serves them.
type Documents struct {
	v2JSON  []byte
	v2Proto []byte
	v2ETag  string
	v3      map[string]*v3Doc // by group-version path: "api/v1", "apis/apps/v1"
	v3Index []byte
	v3ETag  string
}

type v3Doc struct {
	json []byte
	hash string
}

// New builds the documents. It reflects over every served type once; call
// it at start-up, not per request.
func New(cfg Config) (*Documents, error) {
	if cfg.Title == "" {
		cfg.Title = "gantry"
	}
	if cfg.Version == "" {
		cfg.Version = "unversioned"
	}
	b := newBuilder()
	m, err := b.model(cfg)
	if err != nil {
		return nil, err
	}

	d := &Documents{v3: map[string]*v3Doc{}}
	d.v2JSON, err = json.Marshal(m.swagger(cfg))
	if err != nil {
		return nil, fmt.Errorf("openapi v2: %w", err)
	}
	d.v2ETag = etag(d.v2JSON)
	doc, err := openapi_v2.ParseDocument(d.v2JSON)
	if err != nil {
		return nil, fmt.Errorf("openapi v2: parse: %w", err)
	}
	d.v2Proto, err = proto.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi v2: protobuf: %w", err)
	}

	index := map[string]map[string]map[string]string{"paths": {}}
	for _, gv := range m.groupVersions() {
		raw, err := json.Marshal(m.openAPIV3(cfg, gv))
		if err != nil {
			return nil, fmt.Errorf("openapi v3 %s: %w", gvPath(gv), err)
		}
		doc := &v3Doc{json: raw, hash: etag(raw)}
		d.v3[gvPath(gv)] = doc
		index["paths"][gvPath(gv)] = map[string]string{
			"serverRelativeURL": "/openapi/v3/" + gvPath(gv) + "?hash=" + doc.hash,
		}
	}
	d.v3Index, err = json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 index: %w", err)
	}
	d.v3ETag = etag(d.v3Index)
	return d, nil
}

// V2 returns the OpenAPI v2 (Swagger 2.0) document as JSON. The caller must
// not modify it.
func (d *Documents) V2() []byte { return d.v2JSON }

// V3 returns the OpenAPI v3 document of a group-version path such as
// "api/v1" or "apis/apps/v1" as JSON, and whether there is one. The caller
// must not modify it.
func (d *Documents) V3(gvPath string) ([]byte, bool) {
	doc, ok := d.v3[gvPath]
	if !ok {
		return nil, false
	}
	return doc.json, true
}

// GroupVersionPaths lists the group-version paths that have a v3 document,
// sorted.
func (d *Documents) GroupVersionPaths() []string {
	paths := make([]string, 0, len(d.v3))
	for p := range d.v3 {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// etag is the hash Kubernetes uses for ETags and the v3 hash parameter.
func etag(data []byte) string {
	return fmt.Sprintf("%X", sha512.Sum512(data))
}

// gvPath is the API path of a group-version without the leading slash.
func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

var allVerbs = []string{VerbGet, VerbList, VerbWatch, VerbCreate, VerbUpdate, VerbPatch, VerbDelete, VerbDeleteCollection}

func (c Config) validate() error {
	seen := map[schema.GroupVersionKind]bool{}
	plurals := map[string]bool{}
	for i, r := range c.Resources {
		gvk := r.GroupVersionKind
		name := fmt.Sprintf("resource %d (%s)", i, gvk)
		switch {
		case gvk.Version == "" || gvk.Kind == "":
			return fmt.Errorf("%s: version and kind are required: %w", name, ErrInvalidConfig)
		case r.Plural == "":
			return fmt.Errorf("%s: plural is required: %w", name, ErrInvalidConfig)
		case r.Object == nil:
			return fmt.Errorf("%s: object is required: %w", name, ErrInvalidConfig)
		case seen[gvk]:
			return fmt.Errorf("%s: duplicate kind: %w", name, ErrInvalidConfig)
		}
		seen[gvk] = true
		key := gvPath(gvk.GroupVersion()) + "/" + r.Plural
		if plurals[key] {
			return fmt.Errorf("%s: duplicate resource %s: %w", name, key, ErrInvalidConfig)
		}
		plurals[key] = true
		if structType(r.Object) == nil {
			return fmt.Errorf("%s: object %T is not a pointer to a struct: %w", name, r.Object, ErrInvalidConfig)
		}
		for _, v := range r.Verbs {
			if !slices.Contains(allVerbs, v) {
				return fmt.Errorf("%s: unknown verb %q: %w", name, v, ErrInvalidConfig)
			}
		}
		needsList := slices.Contains(r.Verbs, VerbList) || slices.Contains(r.Verbs, VerbWatch) ||
			slices.Contains(r.Verbs, VerbDeleteCollection)
		if needsList && (r.List == nil || structType(r.List) == nil) {
			return fmt.Errorf("%s: verbs %v need a list object: %w", name, r.Verbs, ErrInvalidConfig)
		}
		subs := map[string]bool{}
		for _, s := range r.Subresources {
			sname := fmt.Sprintf("%s: subresource %q", name, s.Name)
			if s.Name == "" || subs[s.Name] {
				return fmt.Errorf("%s: empty or duplicate name: %w", sname, ErrInvalidConfig)
			}
			subs[s.Name] = true
			if s.Object != nil && structType(s.Object) == nil {
				return fmt.Errorf("%s: object %T is not a pointer to a struct: %w", sname, s.Object, ErrInvalidConfig)
			}
			for _, v := range s.Verbs {
				if v != VerbGet && v != VerbCreate && v != VerbUpdate && v != VerbPatch {
					return fmt.Errorf("%s: unsupported verb %q: %w", sname, v, ErrInvalidConfig)
				}
			}
			if s.Object == nil && (len(s.Verbs) != 1 || s.Verbs[0] != VerbGet) {
				return fmt.Errorf("%s: a text subresource (nil object) supports only get: %w", sname, ErrInvalidConfig)
			}
		}
	}
	return nil
}

// structType returns the struct type obj points to, or nil.
func structType(obj runtime.Object) reflect.Type {
	t := reflect.TypeOf(obj)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	return t.Elem()
}
