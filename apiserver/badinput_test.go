package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

// rawServer is an API server on a memory store, called through its handler.
type rawServer struct {
	srv   *apiserver.Server
	store store.Store
}

func newRawServer(t testing.TB) *rawServer {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	srv, err := apiserver.New(apiserver.Options{Store: st})
	require.NoError(t, err)
	require.NoError(t, srv.EnsureSystemObjects(context.Background()))
	return &rawServer{srv: srv, store: st}
}

func (s *rawServer) do(method, path, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, req)
	return rec
}

// revision returns the store's current revision.
func (s *rawServer) revision(t testing.TB) int64 {
	t.Helper()
	l, err := s.store.List(context.Background(), "/", store.ListOptions{Limit: 1})
	require.NoError(t, err)
	return l.Revision
}

func decodeStatus(t testing.TB, rec *httptest.ResponseRecorder) metav1.Status {
	t.Helper()
	var st metav1.Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st), "body: %s", rec.Body.String())
	require.Equal(t, "Status", st.Kind, "body: %s", rec.Body.String())
	return st
}

func TestBadInputGetsStatusAndWritesNothing(t *testing.T) {
	s := newRawServer(t)
	const pods = "/api/v1/namespaces/default/pods"
	valid := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", 4<<20) + `"}}`

	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		code        int
		reason      metav1.StatusReason
		message     string
	}{
		{"malformed JSON", "POST", pods, "application/json", `{"apiVersion":"v1","kind":"Pod",`, 400, metav1.StatusReasonBadRequest, "could not be decoded"},
		{"malformed YAML", "POST", pods, "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata: [\n", 400, metav1.StatusReasonBadRequest, ""},
		{"unknown field, strict", "POST", pods + "?fieldValidation=Strict", "application/json", strings.Replace(valid, `"spec"`, `"bogus":1,"spec"`, 1), 400, metav1.StatusReasonBadRequest, `unknown field "bogus"`},
		{"duplicate field, strict", "POST", pods + "?fieldValidation=Strict", "application/json", strings.Replace(valid, `"kind":"Pod"`, `"kind":"Pod","kind":"Pod"`, 1), 400, metav1.StatusReasonBadRequest, "duplicate field"},
		{"bad fieldValidation", "POST", pods + "?fieldValidation=Loose", "application/json", valid, 400, metav1.StatusReasonBadRequest, "fieldValidation"},
		{"kind disagrees with URL", "POST", pods, "application/json", strings.Replace(valid, `"kind":"Pod"`, `"kind":"Service"`, 1), 400, metav1.StatusReasonBadRequest, "kind"},
		{"apiVersion disagrees with URL", "POST", pods, "application/json", strings.Replace(valid, `"apiVersion":"v1"`, `"apiVersion":"apps/v1"`, 1), 400, metav1.StatusReasonBadRequest, "API version"},
		{"namespace disagrees with URL", "POST", pods, "application/json", strings.Replace(valid, `"name":"p"`, `"name":"p","namespace":"kube-system"`, 1), 400, metav1.StatusReasonBadRequest, "namespace"},
		{"oversized body", "POST", "/api/v1/namespaces/default/configmaps", "application/json", big, 413, metav1.StatusReasonRequestEntityTooLarge, ""},
		{"unsupported media type", "POST", pods, "text/plain", valid, 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"empty body", "POST", pods, "application/json", "", 400, metav1.StatusReasonBadRequest, "empty"},
		{"invalid label selector", "GET", pods + "?labelSelector=a%3D%3D%3Db", "", "", 400, metav1.StatusReasonBadRequest, ""},
		{"invalid field selector", "GET", pods + "?fieldSelector=spec.nope%3Dx", "", "", 400, metav1.StatusReasonBadRequest, "field label not supported"},
		{"bad limit", "GET", pods + "?limit=-1", "", "", 400, metav1.StatusReasonBadRequest, "limit"},
		{"bad continue", "GET", pods + "?limit=1&continue=garbage", "", "", 400, metav1.StatusReasonBadRequest, "continue"},
		{"bad resourceVersion", "GET", pods + "?resourceVersion=abc", "", "", 400, metav1.StatusReasonBadRequest, "resource version"},
		{"missing namespace", "POST", "/api/v1/namespaces/nope/pods", "application/json", valid, 404, metav1.StatusReasonNotFound, "namespaces"},
		// As Kubernetes answers for a resource it does not serve (kubectl
		// create cronjob on a server without cronjobs): no resource, no name.
		{"unknown resource", "GET", "/api/v1/namespaces/default/widgets", "", "", 404, metav1.StatusReasonNotFound, "the server could not find the requested resource"},
		{"unknown resource, create", "POST", "/apis/batch/v1/namespaces/default/widgets", "application/json", valid, 404, metav1.StatusReasonNotFound, "the server could not find the requested resource"},
		{"bad patch type", "PATCH", pods + "/p", "application/x-bogus", `{}`, 415, metav1.StatusReasonUnsupportedMediaType, ""},
		{"name disagrees with URL", "PUT", pods + "/q", "application/json", valid, 400, metav1.StatusReasonBadRequest, "does not match the name"},
		{"negative grace period", "DELETE", pods + "/p?gracePeriodSeconds=-5", "", "", 400, metav1.StatusReasonBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.revision(t)
			rec := s.do(tc.method, tc.path, tc.contentType, []byte(tc.body))
			require.Equal(t, tc.code, rec.Code, "body: %.500s", rec.Body.String())
			st := decodeStatus(t, rec)
			require.Equal(t, metav1.StatusFailure, st.Status)
			require.Equal(t, int32(tc.code), st.Code)
			require.Equal(t, tc.reason, st.Reason, "message: %s", st.Message)
			require.Contains(t, st.Message, tc.message)
			require.Equal(t, before, s.revision(t), "a rejected request wrote to the store")
		})
	}
}

func TestUnknownFieldsWarnByDefault(t *testing.T) {
	s := newRawServer(t)
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"bogus":1}`
	rec := s.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(body))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	require.Contains(t, rec.Header().Get("Warning"), `unknown field \"bogus\"`)
}

// FuzzCreate feeds arbitrary bodies to the create path: the server must
// answer with a Status or an object, never panic or fail with a 500.
func FuzzCreate(f *testing.F) {
	f.Add("application/json", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`))
	f.Add("application/yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {a: b}\n"))
	f.Add("application/json", []byte(`{"kind":"Pod","metadata":{"generateName":"x-"}}`))
	f.Add("application/vnd.kubernetes.protobuf", []byte("k8s\x00\n\x0a\x02v1\x12\x03Pod"))
	f.Add("application/json", []byte(`[]`))
	f.Add("application/json", []byte(`{"metadata":{"name":"a","labels":{"":"x"}}}`))
	s := newRawServer(f)
	paths := []string{"/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/services", "/apis/apps/v1/namespaces/default/deployments"}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		for _, p := range paths {
			rec := s.do("POST", p, contentType, body)
			if rec.Code >= 500 {
				t.Fatalf("POST %s (%s) %q: %d %s", p, contentType, body, rec.Code, rec.Body.String())
			}
		}
	})
}
