package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one served API resource. Adding a resource to the server
// is adding one Resource value; everything not set here gets the generic
// behaviour (store-backed CRUD, list, watch, patch, delete).
//
// A Resource is read-only once passed to New.
type Resource struct {
	// GroupVersionKind of the served type, e.g. apps/v1 Deployment.
	GroupVersionKind schema.GroupVersionKind
	// Plural is the resource name in URLs and in the store key: "deployments".
	Plural string
	// Singular name, lower case ("deployment"); derived from Kind when empty.
	Singular   string
	ShortNames []string
	Categories []string
	// Namespaced resources live in a namespace; the others are cluster-scoped.
	Namespaced bool

	// New returns a new empty object of the type; NewList the matching list.
	New     func() runtime.Object
	NewList func() runtime.Object

	// Status says that the type has a status subresource: the main resource
	// ignores status changes and /status ignores everything but status.
	Status bool
	// Scale, when set, serves the scale subresource (autoscaling/v1 Scale).
	Scale *ScaleSubresource
	// Generation says that metadata.generation counts spec changes.
	Generation bool

	// Default applies the Kubernetes defaults to a new or updated object.
	Default func(obj runtime.Object)
	// Validate checks a new object; ValidateUpdate an update of old to obj.
	Validate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks an update through /status; nil means
	// ValidateUpdate.
	ValidateStatusUpdate func(obj, old runtime.Object) field.ErrorList
	// PrepareForCreate and PrepareForUpdate adjust an object before it is
	// defaulted and validated (e.g. reset status, keep server-owned fields).
	PrepareForCreate func(ctx context.Context, obj runtime.Object)
	PrepareForUpdate func(ctx context.Context, obj, old runtime.Object)

	// Columns and Cells give the Table view that kubectl get prints. Name is
	// always the first column and Age is appended when Cells is set.
	Columns []metav1.TableColumnDefinition
	Cells   func(obj runtime.Object) []any

	// Fields returns the values of the fields a field selector can use, beyond
	// metadata.name and metadata.namespace which every resource supports.
	Fields func(obj runtime.Object) fields.Set

	// GracePeriod, when set, returns the grace period for deleting obj given
	// what the client asked for (nil: nothing); 0 deletes at once. Without
	// it, objects are deleted at once unless finalizers hold them.
	GracePeriod func(obj runtime.Object, requested *int64) int64
	// PrepareForDelete adjusts an object marked for deletion (e.g. a
	// namespace becomes Terminating).
	PrepareForDelete func(obj runtime.Object)
	// Finalized reports whether resource-specific finalizers (beyond
	// metadata.finalizers) still hold up the deletion of obj; nil means none.
	Finalized func(obj runtime.Object) bool

	// TTL, when set, makes stored objects expire that long after their last
	// write (events).
	TTL time.Duration

	// Built-in resources that are not plain stored objects.
	serve      func(s *Server, w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error
	readOnly   bool // only get and list
	createOnly bool // only create (access reviews)
	noAge      bool // no Age column
	ageFirst   bool // the Age column right after Name (resourcequotas)
	// beforeWrite runs after validation, before a create (old nil) or
	// update is stored; the allocation is rolled back if the write fails
	// and committed if it succeeds.
	beforeWrite func(ctx context.Context, s *Server, obj, old runtime.Object) (*allocation, error)
	// validateDelete may refuse a delete (system namespaces).
	validateDelete func(obj runtime.Object) error
	// afterDelete runs once an object is gone from the store.
	afterDelete func(ctx context.Context, s *Server, obj runtime.Object)
}

// ScaleSubresource says where a resource keeps its replica counts.
type ScaleSubresource struct {
	// SpecReplicas returns a pointer to the desired replica count.
	SpecReplicas func(obj runtime.Object) *int32
	// StatusReplicas returns the observed replica count.
	StatusReplicas func(obj runtime.Object) int32
	// Selector returns the label selector of the pods, as a string.
	Selector func(obj runtime.Object) string
}

// GroupVersionResource returns the resource's group, version and plural.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersionKind.GroupVersion().WithResource(r.Plural)
}

// GroupResource is the resource's group and plural, as used in errors.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.GroupVersionKind.Group, Resource: r.Plural}
}

func (r *Resource) validate() error {
	switch {
	case r.GroupVersionKind.Version == "" || r.GroupVersionKind.Kind == "":
		return fmt.Errorf("resource %q: GroupVersionKind must have a version and a kind", r.Plural)
	case r.Plural == "":
		return fmt.Errorf("resource %s: Plural is required", r.GroupVersionKind)
	case r.New == nil || r.NewList == nil:
		return fmt.Errorf("resource %s: New and NewList are required", r.Plural)
	}
	obj := r.New()
	if reflect.TypeOf(obj).Kind() != reflect.Pointer {
		return fmt.Errorf("resource %s: New must return a pointer", r.Plural)
	}
	if _, err := meta.Accessor(obj); err != nil {
		return fmt.Errorf("resource %s: %T has no object metadata: %w", r.Plural, obj, err)
	}
	if r.Status && !reflect.ValueOf(obj).Elem().FieldByName("Status").IsValid() {
		return fmt.Errorf("resource %s: Status is set but %T has no Status field", r.Plural, obj)
	}
	return nil
}
