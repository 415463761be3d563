package openapi_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	openapi_v3 "github.com/google/gnostic-models/openapiv3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util/proto"

	"github.com/gantryhq/gantry/apiserver/openapi"
)

// Building takes a few hundred milliseconds: share the documents of
// testResources between tests.
var (
	docsOnce   sync.Once
	docs       *openapi.Documents
	docsStrict *openapi.Documents
	docsErr    error
)

func testDocuments(t testing.TB) (plain, fieldValidation *openapi.Documents) {
	t.Helper()
	docsOnce.Do(func() {
		docs, docsErr = openapi.New(openapi.Config{Title: "gantry", Version: "test", Resources: testResources()})
		if docsErr == nil {
			docsStrict, docsErr = openapi.New(openapi.Config{Resources: testResources(), FieldValidation: true})
		}
	})
	require.NoError(t, docsErr)
	return docs, docsStrict
}

func decode(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// at walks a decoded JSON document; numeric keys index arrays.
func at(t testing.TB, v any, path ...string) any {
	t.Helper()
	for i, key := range path {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[key]
			require.Truef(t, ok, "no %q at %s", key, strings.Join(path[:i], "/"))
			v = next
		case []any:
			n, err := strconv.Atoi(key)
			require.NoError(t, err)
			require.Less(t, n, len(x))
			v = x[n]
		default:
			t.Fatalf("%s is a %T, not an object", strings.Join(path[:i], "/"), v)
		}
	}
	return v
}

func v3Doc(t testing.TB, d *openapi.Documents, gv string) map[string]any {
	t.Helper()
	raw, ok := d.V3(gv)
	require.Truef(t, ok, "no v3 document for %s", gv)
	return decode(t, raw)
}

func TestPodSchema(t *testing.T) {
	d, _ := testDocuments(t)
	v2 := decode(t, d.V2())
	v3 := v3Doc(t, d, "api/v1")
	const (
		pod       = "io.k8s.api.core.v1.Pod"
		podSpec   = "io.k8s.api.core.v1.PodSpec"
		container = "io.k8s.api.core.v1.Container"
		meta      = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
		time      = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
		quantity  = "io.k8s.apimachinery.pkg.api.resource.Quantity"
		resources = "io.k8s.api.core.v1.ResourceRequirements"
		intstr    = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	)
	for _, version := range []struct {
		name   string
		root   []string // where definitions are
		prefix string   // of references
		doc    map[string]any
		ref    func(t *testing.T, prop any) string
	}{
		{"v2", []string{"definitions"}, "#/definitions/", v2, func(t *testing.T, prop any) string {
			return at(t, prop, "$ref").(string)
		}},
		{"v3", []string{"components", "schemas"}, "#/components/schemas/", v3, func(t *testing.T, prop any) string {
			if ref, ok := prop.(map[string]any)["$ref"]; ok {
				return ref.(string)
			}
			return at(t, prop, "allOf", "0", "$ref").(string) // wrapped to keep the description
		}},
	} {
		t.Run(version.name, func(t *testing.T) {
			def := func(t *testing.T, name string, path ...string) any {
				t.Helper()
				return at(t, version.doc, append(append(append([]string{}, version.root...), name), path...)...)
			}
			tests := []struct {
				name  string
				check func(t *testing.T)
			}{
				{"kind of pod", func(t *testing.T) {
					assert.Equal(t, []any{map[string]any{"group": "", "version": "v1", "kind": "Pod"}},
						def(t, pod, "x-kubernetes-group-version-kind"))
					assert.Contains(t, def(t, pod, "description"), "Pod is a collection of containers")
				}},
				{"metadata refers to ObjectMeta and is not required", func(t *testing.T) {
					assert.Equal(t, version.prefix+meta, version.ref(t, def(t, pod, "properties", "metadata")))
					assert.NotContains(t, def(t, pod), "required")
				}},
				{"containers is a merge list of Container", func(t *testing.T) {
					containers := def(t, podSpec, "properties", "containers")
					assert.Equal(t, "array", at(t, containers, "type"))
					assert.Equal(t, version.prefix+container, at(t, containers, "items", "$ref"))
					assert.Equal(t, "name", at(t, containers, "x-kubernetes-patch-merge-key"))
					assert.Equal(t, "merge", at(t, containers, "x-kubernetes-patch-strategy"))
					assert.Equal(t, "map", at(t, containers, "x-kubernetes-list-type"))
					assert.Equal(t, []any{"name"}, at(t, containers, "x-kubernetes-list-map-keys"))
					assert.Contains(t, at(t, containers, "description"), "List of containers belonging to the pod")
				}},
				{"required fields follow Kubernetes", func(t *testing.T) {
					assert.Equal(t, []any{"containers"}, def(t, podSpec, "required"))
					assert.Equal(t, []any{"name"}, def(t, container, "required"))
					assert.NotContains(t, def(t, meta), "required")
				}},
				{"creationTimestamp is a date-time string", func(t *testing.T) {
					assert.Equal(t, version.prefix+time, version.ref(t, def(t, meta, "properties", "creationTimestamp")))
					assert.Equal(t, "string", def(t, time, "type"))
					assert.Equal(t, "date-time", def(t, time, "format"))
				}},
				{"resource limits are int-or-string quantities", func(t *testing.T) {
					limits := def(t, resources, "properties", "limits")
					assert.Equal(t, "object", at(t, limits, "type"))
					assert.Equal(t, version.prefix+quantity, at(t, limits, "additionalProperties", "$ref"))
					assert.Equal(t, true, def(t, quantity, "x-kubernetes-int-or-string"))
					assert.Equal(t, true, def(t, intstr, "x-kubernetes-int-or-string"))
					assert.Equal(t, "int-or-string", def(t, intstr, "format"))
				}},
				{"labels are a string map", func(t *testing.T) {
					assert.Equal(t, map[string]any{"type": "string"}, def(t, meta, "properties", "labels", "additionalProperties"))
				}},
				{"finalizers are a set", func(t *testing.T) {
					assert.Equal(t, "set", def(t, meta, "properties", "finalizers", "x-kubernetes-list-type"))
				}},
				{"bytes are base64 strings", func(t *testing.T) {
					assert.Equal(t, map[string]any{"type": "string", "format": "byte"},
						def(t, "io.k8s.api.core.v1.Secret", "properties", "data", "additionalProperties"))
				}},
				{"ports list keys", func(t *testing.T) {
					assert.Equal(t, []any{"containerPort", "protocol"},
						def(t, container, "properties", "ports", "x-kubernetes-list-map-keys"))
				}},
				{"json:\"-\" fields are left out", func(t *testing.T) {
					assert.NotContains(t, def(t, "io.k8s.apimachinery.pkg.runtime.RawExtension"), "properties")
					assert.Equal(t, "object", def(t, "io.k8s.apimachinery.pkg.runtime.RawExtension", "type"))
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, tt.check)
			}
		})
	}
	t.Run("v3 int-or-string is oneOf", func(t *testing.T) {
		assert.Equal(t, []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}},
			at(t, v3, "components", "schemas", intstr, "oneOf"))
		assert.NotContains(t, at(t, v3, "components", "schemas", intstr), "type")
	})
}

func TestOperations(t *testing.T) {
	plain, strict := testDocuments(t)
	tests := []struct {
		gv, path, method string
		id, action       string
		kind             schema.GroupVersionKind
		params           []string
	}{
		{"api/v1", "/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod", "list",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
			[]string{"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch", "timeoutSeconds"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods", "post", "createCoreV1NamespacedPod", "post",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"dryRun", "fieldManager", "fieldValidation"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods", "delete", "deleteCoreV1CollectionNamespacedPod", "deletecollection",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"labelSelector", "gracePeriodSeconds"}},
		{"api/v1", "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"labelSelector"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "get", "readCoreV1NamespacedPod", "get",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, nil},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "put", "replaceCoreV1NamespacedPod", "put",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"dryRun", "fieldManager", "fieldValidation"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "patch", "patchCoreV1NamespacedPod", "patch",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"dryRun", "fieldManager", "fieldValidation", "force"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "delete", "deleteCoreV1NamespacedPod", "delete",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"gracePeriodSeconds", "propagationPolicy"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/status", "patch", "patchCoreV1NamespacedPodStatus", "patch",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"fieldValidation"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/binding", "post", "createCoreV1NamespacedPodBinding", "post",
			schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, nil},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post", "createCoreV1NamespacedPodEviction", "post",
			schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, nil},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/log", "get", "readCoreV1NamespacedPodLog", "get",
			schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"container", "follow", "tailLines"}},
		{"api/v1", "/api/v1/nodes/{name}", "patch", "patchCoreV1Node", "patch",
			schema.GroupVersionKind{Version: "v1", Kind: "Node"}, nil},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put", "replaceAppsV1NamespacedDeploymentScale", "put",
			schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, nil},
		{"apis/rbac.authorization.k8s.io/v1", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "get", "listRbacAuthorizationV1ClusterRole", "list",
			schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			for _, doc := range []struct {
				name string
				doc  map[string]any
			}{
				{"v2", decode(t, strict.V2())},
				{"v3", v3Doc(t, strict, tt.gv)},
			} {
				op := at(t, doc.doc, "paths", tt.path, tt.method)
				assert.Equal(t, tt.id, at(t, op, "operationId"), doc.name)
				assert.Equal(t, tt.action, at(t, op, "x-kubernetes-action"), doc.name)
				assert.Equal(t, map[string]any{"group": tt.kind.Group, "version": tt.kind.Version, "kind": tt.kind.Kind},
					at(t, op, "x-kubernetes-group-version-kind"), doc.name)
				names := paramNames(op)
				for _, p := range tt.params {
					assert.Contains(t, names, p, doc.name)
				}
			}
			// Without FieldValidation the parameter is not published, so
			// kubectl validates on the client.
			op := at(t, v3Doc(t, plain, tt.gv), "paths", tt.path, tt.method)
			assert.NotContains(t, paramNames(op), "fieldValidation")
		})
	}

	t.Run("patch media types", func(t *testing.T) {
		op := at(t, v3Doc(t, strict, "api/v1"), "paths", "/api/v1/namespaces/{namespace}/pods/{name}", "patch")
		content := at(t, op, "requestBody", "content").(map[string]any)
		for _, mt := range []string{"application/json-patch+json", "application/merge-patch+json",
			"application/strategic-merge-patch+json", "application/apply-patch+yaml"} {
			assert.Equal(t, "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch", at(t, content, mt, "schema", "$ref"))
		}
		v2op := at(t, decode(t, strict.V2()), "paths", "/api/v1/namespaces/{namespace}/pods/{name}", "patch")
		assert.Len(t, at(t, v2op, "consumes"), 4)
	})
	t.Run("bodies and responses", func(t *testing.T) {
		op := at(t, v3Doc(t, strict, "api/v1"), "paths", "/api/v1/namespaces/{namespace}/pods", "post")
		assert.Equal(t, "#/components/schemas/io.k8s.api.core.v1.Pod", at(t, op, "requestBody", "content", "*/*", "schema", "$ref"))
		assert.Equal(t, "#/components/schemas/io.k8s.api.core.v1.Pod", at(t, op, "responses", "201", "content", "application/json", "schema", "$ref"))
		list := at(t, v3Doc(t, strict, "api/v1"), "paths", "/api/v1/namespaces/{namespace}/pods", "get")
		assert.Equal(t, "#/components/schemas/io.k8s.api.core.v1.PodList", at(t, list, "responses", "200", "content", "application/json", "schema", "$ref"))
		v2op := at(t, decode(t, strict.V2()), "paths", "/api/v1/namespaces/{namespace}/pods/{name}", "delete")
		assert.Equal(t, "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", at(t, v2op, "parameters", "0", "schema", "$ref"))
	})
	t.Run("meta types", func(t *testing.T) {
		v2 := decode(t, strict.V2())
		for _, name := range []string{"Status", "DeleteOptions", "WatchEvent", "APIResourceList", "APIGroupList", "APIVersions", "Patch"} {
			at(t, v2, "definitions", "io.k8s.apimachinery.pkg.apis.meta.v1."+name)
		}
		assert.Contains(t, at(t, v2, "definitions", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "x-kubernetes-group-version-kind"),
			map[string]any{"group": "apps", "version": "v1", "kind": "DeleteOptions"})
		assert.Equal(t, "getCoreV1APIResources", at(t, v2, "paths", "/api/v1/", "get", "operationId"))
		assert.Equal(t, "getAppsAPIGroup", at(t, v2, "paths", "/apis/apps/", "get", "operationId"))
		assert.Equal(t, "getAPIVersions", at(t, v2, "paths", "/apis/", "get", "operationId"))
	})
	t.Run("v3 documents hold only their group-version", func(t *testing.T) {
		apps := v3Doc(t, strict, "apis/apps/v1")
		for path := range at(t, apps, "paths").(map[string]any) {
			assert.True(t, strings.HasPrefix(path, "/apis/apps/v1/"), path)
		}
		schemas := at(t, apps, "components", "schemas").(map[string]any)
		assert.Contains(t, schemas, "io.k8s.api.apps.v1.Deployment")
		assert.Contains(t, schemas, "io.k8s.api.core.v1.PodTemplateSpec")
		assert.Contains(t, schemas, "io.k8s.api.autoscaling.v1.Scale")
		assert.NotContains(t, schemas, "io.k8s.api.core.v1.Pod")
	})
}

func paramNames(op any) []string {
	var names []string
	params, _ := op.(map[string]any)["parameters"].([]any)
	for _, p := range params {
		if name, ok := p.(map[string]any)["name"].(string); ok {
			names = append(names, name)
		}
	}
	return names
}

// TestParse reads the documents with the parsers kubectl and client-go use.
func TestParse(t *testing.T) {
	plain, strict := testDocuments(t)
	for _, d := range []*openapi.Documents{plain, strict} {
		t.Run("gnostic v2 and kubectl's models", func(t *testing.T) {
			doc, err := openapi_v2.ParseDocument(d.V2())
			require.NoError(t, err)
			models, err := proto.NewOpenAPIData(doc)
			require.NoError(t, err)
			pod, ok := models.LookupModel("io.k8s.api.core.v1.Pod").(*proto.Kind)
			require.True(t, ok)
			assert.Contains(t, pod.Fields, "spec")
			spec := pod.Fields["spec"].(proto.Reference).SubSchema().(*proto.Kind)
			assert.Equal(t, []string{"containers"}, spec.RequiredFields)
			containers := spec.Fields["containers"].(*proto.Array)
			assert.Equal(t, "name", containers.GetExtensions()["x-kubernetes-patch-merge-key"])
		})
		for _, gv := range d.GroupVersionPaths() {
			t.Run("v3 "+gv, func(t *testing.T) {
				raw, _ := d.V3(gv)
				_, err := openapi_v3.ParseDocument(raw)
				require.NoError(t, err)
				var spec spec3.OpenAPI
				require.NoError(t, json.Unmarshal(raw, &spec))
				assert.NotEmpty(t, spec.Paths.Paths)
				assert.NotEmpty(t, spec.Components.Schemas)
			})
		}
	}
}

// Recursive is a type that refers to itself.
type Recursive struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Name              string          `json:"name"`
	Child             *Recursive      `json:"child,omitempty"`
	Children          []Recursive     `json:"children,omitempty"`
	Hidden            string          `json:"-"`
	internal          string          //nolint:unused // unexported fields are not part of the JSON form
	Anonymous         struct{ A int } `json:"anonymous"`
}

func (r *Recursive) DeepCopyObject() runtime.Object { c := *r; return &c }

func TestCustomTypes(t *testing.T) {
	d, err := openapi.New(openapi.Config{Resources: []openapi.Resource{{
		GroupVersionKind: schema.GroupVersionKind{Group: "example.gantry.dev", Version: "v1alpha1", Kind: "Recursive"},
		Plural:           "recursives",
		Object:           &Recursive{},
		Verbs:            []string{"get", "create"},
	}}})
	require.NoError(t, err)
	const name = "com.github.gantryhq.gantry.apiserver.openapi_test.Recursive"
	v2 := decode(t, d.V2())
	def := at(t, v2, "definitions", name).(map[string]any)
	assert.Equal(t, "#/definitions/"+name, at(t, def, "properties", "child", "$ref"))
	assert.Equal(t, "#/definitions/"+name, at(t, def, "properties", "children", "items", "$ref"))
	assert.Equal(t, map[string]any{"type": "integer", "format": "int64"}, at(t, def, "properties", "anonymous", "properties", "A"))
	props := at(t, def, "properties").(map[string]any)
	assert.NotContains(t, props, "Hidden")
	assert.NotContains(t, props, "internal")
	assert.Contains(t, props, "apiVersion")
	assert.Equal(t, []any{"name", "anonymous"}, at(t, def, "required"))
	assert.Equal(t, []string{"apis/example.gantry.dev/v1alpha1"}, d.GroupVersionPaths())
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	pod := func(mutate func(r *openapi.Resource)) []openapi.Resource {
		r := testResources()[0]
		mutate(&r)
		return []openapi.Resource{r}
	}
	tests := []struct {
		name      string
		resources []openapi.Resource
	}{
		{"no kind", pod(func(r *openapi.Resource) { r.GroupVersionKind.Kind = "" })},
		{"no plural", pod(func(r *openapi.Resource) { r.Plural = "" })},
		{"no object", pod(func(r *openapi.Resource) { r.Object = nil })},
		{"list without list type", pod(func(r *openapi.Resource) { r.List = nil })},
		{"unknown verb", pod(func(r *openapi.Resource) { r.Verbs = []string{"frobnicate"} })},
		{"subresource verb", pod(func(r *openapi.Resource) {
			r.Subresources = []openapi.Subresource{{Name: "status", Object: &corev1.Pod{}, Verbs: []string{"delete"}}}
		})},
		{"duplicate kind", append(testResources()[:1], testResources()[0])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openapi.New(openapi.Config{Resources: tt.resources})
			require.Error(t, err)
			assert.True(t, errors.Is(err, openapi.ErrInvalidConfig), err)
		})
	}
}
