package openapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/apiserver/openapi"
)

// Build the documents once at start-up and mount them under /openapi/.
func ExampleNew() {
	docs, err := openapi.New(openapi.Config{
		Title:   "gantry",
		Version: "v0.1.0",
		Resources: []openapi.Resource{{
			GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Plural:           "pods",
			Namespaced:       true,
			Object:           &corev1.Pod{},
			List:             &corev1.PodList{},
			Verbs:            []string{"get", "list", "watch", "create", "update", "patch", "delete"},
			Subresources: []openapi.Subresource{
				{Name: "status", Object: &corev1.Pod{}, Verbs: []string{"get", "update", "patch"}},
				{Name: "binding", Object: &corev1.Binding{}, Verbs: []string{"create"}},
			},
		}},
		FieldValidation: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/openapi/", docs)

	fmt.Println(docs.GroupVersionPaths())
	for _, path := range []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code, rec.Header().Get("Content-Type"))
	}
	// Output:
	// [api/v1]
	// /openapi/v2 200 application/json
	// /openapi/v3 200 application/json
	// /openapi/v3/api/v1 200 application/json
}
