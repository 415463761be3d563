package openapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// node is a schema in a form both document versions render from.
type node struct {
	ref         string // definition name; the node is a reference when set
	description string
	typ         string
	format      string
	oneOf       []string // v3: the alternative types of an int-or-string
	items       *node
	properties  map[string]*node
	additional  *node
	required    []string
	ext         map[string]any
}

func (n *node) setExt(key string, v any) {
	if n.ext == nil {
		n.ext = map[string]any{}
	}
	n.ext[key] = v
}

// definition is one named schema: #/definitions/<name> in v2,
// #/components/schemas/<name> in v3.
type definition struct {
	name   string
	schema *node
	gvks   []schema.GroupVersionKind // x-kubernetes-group-version-kind
	refs   []string                  // definitions referenced directly
}

// builder turns Go types into definitions. It is used by one goroutine.
type builder struct {
	defs   map[string]*definition
	byType map[reflect.Type]string
}

func newBuilder() *builder {
	return &builder{defs: map[string]*definition{}, byType: map[reflect.Type]string{}}
}

// Interfaces of k8s.io/apimachinery types that serialize as primitives
// (metav1.Time, resource.Quantity, intstr.IntOrString, ...).
type (
	openAPITyper interface {
		OpenAPISchemaType() []string
		OpenAPISchemaFormat() string
	}
	openAPIV3OneOfTyper interface {
		OpenAPIV3OneOfTypes() []string
	}
	swaggerDocer interface {
		SwaggerDoc() map[string]string
	}
)

const (
	pkgMeta    = "k8s.io/apimachinery/pkg/apis/meta/v1"
	pkgRuntime = "k8s.io/apimachinery/pkg/runtime"
)

// specialSchemas are types whose JSON form is not what their fields say.
var specialSchemas = map[string]node{
	pkgRuntime + ".RawExtension": {typ: "object", description: "RawExtension is used to hold extensions in external versions: an arbitrary JSON object, such as a complete API object."},
	pkgMeta + ".FieldsV1":        {typ: "object", description: "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format."},
	pkgMeta + ".Patch":           {typ: "object", description: "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."},
}

// primitiveDocs describes the primitive-like apimachinery types, which have
// no SwaggerDoc method.
var primitiveDocs = map[string]string{
	pkgMeta + ".Time":                                 "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. It is written as an RFC 3339 date-time string.",
	pkgMeta + ".MicroTime":                            "MicroTime is version of Time with microsecond level precision.",
	pkgMeta + ".Duration":                             "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON. It is written as a string such as \"1h30m\".",
	"k8s.io/apimachinery/pkg/api/resource.Quantity":   "Quantity is a fixed-point representation of a number, written as an integer or decimal with an optional binary (Ki, Mi, Gi, Ti, Pi, Ei) or decimal (m, k, M, G, T, P, E) suffix or exponent: 128974848, 129e6, 129M, 123Mi, 100m.",
	"k8s.io/apimachinery/pkg/util/intstr.IntOrString": "IntOrString is a type that can hold an int32 or a string. When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.",
}

// optionalFields lists fields of k8s.io/api types that have no omitempty
// but are marked +optional in their source (comments are not available at
// run time). Kubernetes does not publish them as required, and kubectl's
// client-side validation would reject manifests without them.
var optionalFields = map[string]bool{
	"io.k8s.api.core.v1.TypedObjectReference.apiGroup":                   true,
	"io.k8s.api.core.v1.TypedLocalObjectReference.apiGroup":              true,
	"io.k8s.api.core.v1.AzureFilePersistentVolumeSource.secretNamespace": true,
	"io.k8s.api.core.v1.ProjectedVolumeSource.sources":                   true,
	"io.k8s.api.core.v1.GRPCAction.service":                              true,
	"io.k8s.api.core.v1.NodeRuntimeHandler.name":                         true,
	"io.k8s.api.core.v1.ContainerImage.names":                            true,
	"io.k8s.api.core.v1.Event.reportingComponent":                        true,
	"io.k8s.api.core.v1.Event.reportingInstance":                         true,
	"io.k8s.api.apps.v1.StatefulSetOrdinals.start":                       true,
	"io.k8s.api.apps.v1.StatefulSetSpec.serviceName":                     true,
	"io.k8s.api.apps.v1.StatefulSetStatus.availableReplicas":             true,
	"io.k8s.api.apps.v1.StatefulSetCondition.type":                       true,
	"io.k8s.api.apps.v1.StatefulSetCondition.status":                     true,
	"io.k8s.api.apps.v1.DeploymentCondition.type":                        true,
	"io.k8s.api.apps.v1.DeploymentCondition.status":                      true,
	"io.k8s.api.apps.v1.DaemonSetCondition.type":                         true,
	"io.k8s.api.apps.v1.DaemonSetCondition.status":                       true,
	"io.k8s.api.apps.v1.ReplicaSetCondition.type":                        true,
	"io.k8s.api.apps.v1.ReplicaSetCondition.status":                      true,
	"io.k8s.api.apps.v1.ControllerRevision.revision":                     true,
	"io.k8s.api.policy.v1.PodDisruptionBudgetStatus.disruptionsAllowed":  true,
	"io.k8s.api.policy.v1.PodDisruptionBudgetStatus.currentHealthy":      true,
	"io.k8s.api.policy.v1.PodDisruptionBudgetStatus.desiredHealthy":      true,
	"io.k8s.api.policy.v1.PodDisruptionBudgetStatus.expectedPods":        true,
	"io.k8s.api.discovery.v1.EndpointSlice.endpoints":                    true,
	"io.k8s.api.discovery.v1.EndpointSlice.ports":                        true,
	"io.k8s.api.rbac.v1.RoleRef.apiGroup":                                true,
	"io.k8s.api.rbac.v1.Role.rules":                                      true,
	"io.k8s.api.rbac.v1.ClusterRole.rules":                               true,
	"io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern.status":  true,
	"io.k8s.api.networking.v1.NetworkPolicySpec.podSelector":             true,
	"io.k8s.api.networking.v1.IngressClassParametersReference.scope":     true,
}

// listMapKeys gives the keys of merge lists whose items are identified by
// more than their patch merge key (Kubernetes' +listMapKey markers).
var listMapKeys = map[string][]string{
	"io.k8s.api.core.v1.ContainerPort": {"containerPort", "protocol"},
	"io.k8s.api.core.v1.ServicePort":   {"port", "protocol"},
}

// keyDefaults are the defaults of list-map key fields: server-side apply
// needs them to match an applied item without the field (a port without
// protocol) to the live item that has it defaulted.
var keyDefaults = map[string]map[string]any{
	"io.k8s.api.core.v1.ContainerPort": {"protocol": "TCP"},
	"io.k8s.api.core.v1.ServicePort":   {"protocol": "TCP"},
}

// definitionName names the definition of a named Go type after its package,
// as Kubernetes does: k8s.io/api/core/v1.Pod is io.k8s.api.core.v1.Pod and
// github.com/x/y.T is com.github.x.y.T.
func definitionName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/vendor/"); i >= 0 {
		pkg = pkg[i+len("/vendor/"):]
	}
	parts := strings.Split(pkg, "/")
	domain := strings.Split(parts[0], ".")
	slices.Reverse(domain)
	parts[0] = strings.Join(domain, ".")
	return strings.Join(parts, ".") + "." + t.Name()
}

func qualifiedName(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// define makes sure the named type t has a definition and returns its name.
func (b *builder) define(t reflect.Type) (string, error) {
	if name, ok := b.byType[t]; ok {
		return name, nil
	}
	if t.Name() == "" || t.PkgPath() == "" {
		return "", fmt.Errorf("type %v: only named types get definitions", t)
	}
	name := definitionName(t)
	if _, taken := b.defs[name]; taken {
		return "", fmt.Errorf("type %v: definition name %s is taken by another type", t, name)
	}
	def := &definition{name: name}
	// Register before descending so that recursive types end in a reference.
	b.byType[t] = name
	b.defs[name] = def

	s, err := b.definitionSchema(t)
	if err != nil {
		return "", fmt.Errorf("type %s: %w", qualifiedName(t), err)
	}
	for field, v := range keyDefaults[name] {
		if p := s.properties[field]; p != nil {
			p.setExt("default", v)
		}
	}
	def.schema = s
	def.refs = collectRefs(s, nil)
	return name, nil
}

// definitionSchema is the schema of a named type's definition.
func (b *builder) definitionSchema(t reflect.Type) (*node, error) {
	q := qualifiedName(t)
	if s, ok := specialSchemas[q]; ok {
		return &s, nil
	}
	if typer, ok := reflect.Zero(t).Interface().(openAPITyper); ok {
		s := &node{format: typer.OpenAPISchemaFormat(), description: primitiveDocs[q]}
		if types := typer.OpenAPISchemaType(); len(types) > 0 {
			s.typ = types[0]
		}
		if oneOf, ok := reflect.Zero(t).Interface().(openAPIV3OneOfTyper); ok {
			s.oneOf = oneOf.OpenAPIV3OneOfTypes()
			if slices.Contains(s.oneOf, "string") && (slices.Contains(s.oneOf, "integer") || slices.Contains(s.oneOf, "number")) {
				s.setExt("x-kubernetes-int-or-string", true)
			}
		}
		return s, nil
	}
	if t.Kind() != reflect.Struct {
		return b.inlineSchema(t)
	}
	s := &node{typ: "object", properties: map[string]*node{}}
	if doc := swaggerDoc(t); doc != nil {
		s.description = doc[""]
	}
	if err := b.addFields(s, t); err != nil {
		return nil, err
	}
	if len(s.properties) == 0 {
		s.properties = nil
	}
	return s, nil
}

// hasDefinition says whether values of type t are written as a reference.
func hasDefinition(t reflect.Type) bool {
	if t.Name() == "" || t.PkgPath() == "" {
		return false
	}
	if _, ok := specialSchemas[qualifiedName(t)]; ok {
		return true
	}
	if _, ok := reflect.Zero(t).Interface().(openAPITyper); ok {
		return true
	}
	return t.Kind() == reflect.Struct
}

// schemaOf returns a new node for a value of type t: a reference for
// structs and special types, an inline schema otherwise.
func (b *builder) schemaOf(t reflect.Type) (*node, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if hasDefinition(t) {
		name, err := b.define(t)
		if err != nil {
			return nil, err
		}
		return &node{ref: name}, nil
	}
	return b.inlineSchema(t)
}

func (b *builder) inlineSchema(t reflect.Type) (*node, error) {
	switch t.Kind() {
	case reflect.Bool:
		return &node{typ: "boolean"}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return &node{typ: "integer", format: "int32"}, nil
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return &node{typ: "integer", format: "int64"}, nil
	case reflect.Float32:
		return &node{typ: "number", format: "float"}, nil
	case reflect.Float64:
		return &node{typ: "number", format: "double"}, nil
	case reflect.String:
		return &node{typ: "string"}, nil
	case reflect.Interface:
		return &node{typ: "object"}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &node{typ: "string", format: "byte"}, nil
		}
		items, err := b.schemaOf(t.Elem())
		if err != nil {
			return nil, err
		}
		return &node{typ: "array", items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key type %v is not a string", t.Key())
		}
		values, err := b.schemaOf(t.Elem())
		if err != nil {
			return nil, err
		}
		return &node{typ: "object", additional: values}, nil
	case reflect.Struct: // anonymous struct
		s := &node{typ: "object", properties: map[string]*node{}}
		if err := b.addFields(s, t); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("type %v (%s) has no JSON schema", t, t.Kind())
}

// addFields adds the JSON fields of struct type t to s, following
// encoding/json: embedded structs without a name and ",inline" fields are
// flattened, "-" and unexported fields are skipped.
func (b *builder) addFields(s *node, t reflect.Type) error {
	docs := swaggerDoc(t)
	owner := ""
	if t.Name() != "" {
		owner = definitionName(t)
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		inline := name == "" && (f.Anonymous || slices.Contains(strings.Split(opts, ","), "inline"))
		if inline && ft.Kind() == reflect.Struct && !hasSpecialForm(ft) {
			if err := b.addFields(s, ft); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		p, err := b.schemaOf(f.Type)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		p.description = docs[name]
		addPatchExtensions(p, f, b)
		s.properties[name] = p

		optional := slices.Contains(strings.Split(opts, ","), "omitempty") ||
			slices.Contains(strings.Split(opts, ","), "omitzero") ||
			optionalFields[owner+"."+name]
		if !optional && !slices.Contains(s.required, name) {
			s.required = append(s.required, name)
		}
	}
	return nil
}

// hasSpecialForm reports types that serialize differently from their
// fields even when embedded.
func hasSpecialForm(t reflect.Type) bool {
	if _, ok := specialSchemas[qualifiedName(t)]; ok {
		return true
	}
	_, ok := reflect.Zero(t).Interface().(openAPITyper)
	return ok
}

// addPatchExtensions turns the strategic merge patch tags of field f into
// the x-kubernetes-patch-* extensions, and merge lists into
// x-kubernetes-list-type map (keyed by the merge key) or set.
func addPatchExtensions(p *node, f reflect.StructField, b *builder) {
	strategy := f.Tag.Get("patchStrategy")
	key := f.Tag.Get("patchMergeKey")
	if strategy != "" {
		p.setExt("x-kubernetes-patch-strategy", strategy)
	}
	if key != "" {
		p.setExt("x-kubernetes-patch-merge-key", key)
	}
	if p.typ != "array" || !slices.Contains(strings.Split(strategy, ","), "merge") {
		return
	}
	switch {
	case key != "":
		keys := []string{key}
		if p.items.ref != "" && listMapKeys[p.items.ref] != nil {
			keys = listMapKeys[p.items.ref]
		}
		p.setExt("x-kubernetes-list-type", "map")
		p.setExt("x-kubernetes-list-map-keys", keys)
	case p.items.ref == "" && p.items.typ != "object" && p.items.typ != "array":
		p.setExt("x-kubernetes-list-type", "set")
	}
}

// swaggerDoc returns the SwaggerDoc descriptions of struct type t, or nil.
func swaggerDoc(t reflect.Type) map[string]string {
	if d, ok := reflect.Zero(t).Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	if d, ok := reflect.New(t).Interface().(swaggerDocer); ok {
		return d.SwaggerDoc()
	}
	return nil
}

// collectRefs appends the definition names n refers to.
func collectRefs(n *node, refs []string) []string {
	if n == nil {
		return refs
	}
	if n.ref != "" && !slices.Contains(refs, n.ref) {
		refs = append(refs, n.ref)
	}
	refs = collectRefs(n.items, refs)
	refs = collectRefs(n.additional, refs)
	for _, p := range n.properties {
		refs = collectRefs(p, refs)
	}
	return refs
}
