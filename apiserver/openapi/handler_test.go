package openapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
)

func TestServeHTTP(t *testing.T) {
	d, _ := testDocuments(t)
	core, _ := d.V3("api/v1")
	index := decode(t, get(t, d, "/openapi/v3", "").Body.Bytes())
	coreURL := at(t, index, "paths", "api/v1", "serverRelativeURL").(string)

	tests := []struct {
		name        string
		path        string
		accept      string
		header      map[string]string
		code        int
		contentType string
		check       func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{name: "v2 json by default", path: "/openapi/v2", code: 200, contentType: "application/json",
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.Equal(t, d.V2(), rec.Body.Bytes())
				assert.NotEmpty(t, rec.Header().Get("Etag"))
			}},
		{name: "v2 json", path: "/openapi/v2", accept: "application/json", code: 200, contentType: "application/json"},
		{name: "v2 protobuf", path: "/openapi/v2", accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
			code: 200, contentType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				var doc openapi_v2.Document
				require.NoError(t, proto.Unmarshal(rec.Body.Bytes(), &doc))
				assert.Equal(t, "2.0", doc.Swagger)
				assert.NotEmpty(t, doc.Definitions.AdditionalProperties)
			}},
		{name: "v2 protobuf preferred by quality", path: "/openapi/v2",
			accept: "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
			code:   200, contentType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"},
		{name: "v2 not acceptable", path: "/openapi/v2", accept: "application/xml", code: 406},
		{name: "v2 not modified", path: "/openapi/v2", header: map[string]string{"If-None-Match": `"` + etagOf(t, d, "/openapi/v2") + `"`}, code: 304},
		{name: "v3 index", path: "/openapi/v3", code: 200, contentType: "application/json",
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				paths := at(t, decode(t, rec.Body.Bytes()), "paths").(map[string]any)
				assert.Len(t, paths, len(d.GroupVersionPaths()))
				assert.Regexp(t, `^/openapi/v3/apis/apps/v1\?hash=[0-9A-F]{128}$`, at(t, paths, "apis/apps/v1", "serverRelativeURL"))
			}},
		{name: "v3 document with hash", path: coreURL, code: 200, contentType: "application/json",
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.Equal(t, core, rec.Body.Bytes())
				assert.Equal(t, "public, immutable", rec.Header().Get("Cache-Control"))
				assert.NotEmpty(t, rec.Header().Get("Expires"))
			}},
		{name: "v3 document without hash", path: "/openapi/v3/api/v1", code: 200, contentType: "application/json",
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.Equal(t, core, rec.Body.Bytes())
				assert.Empty(t, rec.Header().Get("Cache-Control"))
			}},
		{name: "v3 document with a stale hash", path: "/openapi/v3/api/v1?hash=0123", code: 301,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				assert.Equal(t, coreURL, rec.Header().Get("Location"))
			}},
		{name: "v3 document not modified", path: coreURL,
			header: map[string]string{"If-None-Match": `"` + strings.TrimPrefix(coreURL, "/openapi/v3/api/v1?hash=") + `"`}, code: 304},
		{name: "v3 unknown group-version", path: "/openapi/v3/apis/nope/v1", code: 404},
		{name: "unknown path", path: "/openapi/v4", code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, req)
			require.Equal(t, tt.code, rec.Code, rec.Body.String())
			if tt.contentType != "" {
				assert.Equal(t, tt.contentType, rec.Header().Get("Content-Type"))
			}
			if tt.check != nil {
				tt.check(t, rec)
			}
		})
	}

	t.Run("concurrent readers", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				path := []string{"/openapi/v2", "/openapi/v3", coreURL, "/openapi/v3/apis/apps/v1"}[i%4]
				rec := httptest.NewRecorder()
				d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				assert.Equal(t, http.StatusOK, rec.Code, path)
			})
		}
		wg.Wait()
	})
	t.Run("only GET and HEAD", func(t *testing.T) {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/openapi/v2", nil))
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	})
}

func get(t *testing.T, h http.Handler, path, accept string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	return rec
}

func etagOf(t *testing.T, h http.Handler, path string) string {
	return strings.Trim(get(t, h, path, "").Header().Get("Etag"), `"`)
}

// TestClientGo reads the documents over HTTP with client-go's discovery
// and OpenAPI v3 clients, as kubectl does.
func TestClientGo(t *testing.T) {
	d, _ := testDocuments(t)
	srv := httptest.NewServer(d)
	defer srv.Close()
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)

	v2, err := dc.OpenAPISchemaWithContext(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "gantry", v2.Info.Title)

	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	require.NoError(t, err)
	assert.Contains(t, gvs, schema.GroupVersion{Group: "apps", Version: "v1"})
	spec, err := root.GVSpec(schema.GroupVersion{Group: "apps", Version: "v1"})
	require.NoError(t, err)
	patch := spec.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].Patch
	require.NotNil(t, patch)
	assert.Equal(t, "patchAppsV1NamespacedDeployment", patch.OperationId)
	assert.Contains(t, spec.Components.Schemas, "io.k8s.api.apps.v1.DeploymentSpec")
}
