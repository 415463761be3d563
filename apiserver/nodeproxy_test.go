package apiserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

// echoed is what the fake node agent of TestNodeProxy saw of a request.
type echoed struct {
	Method, Path, RawQuery, Body, Authorization string
}

// TestNodeProxy proxies nodes/<name>/proxy/<path> to a fake node agent
// with client-go and kubectl: method, path, query and body pass, the
// client's credentials do not, the agent's answer comes back as it is, and
// RBAC decides on nodes/proxy.
func TestNodeProxy(t *testing.T) {
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/teapot" {
			w.Header().Set("X-Agent", "yes")
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "short and stout")
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(body), r.Header.Get("Authorization")})
	}))
	t.Cleanup(agent.Close)
	s := apiservertest.Start(t, apiserver.Options{NodeConnection: func(_ context.Context, n *corev1.Node) (*url.URL, http.RoundTripper, error) {
		u, err := url.Parse(agent.URL)
		return u, http.DefaultTransport, err
	}}, apiservertest.WithRBAC())
	ctx := context.Background()
	_, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	rc := s.Client.CoreV1().RESTClient()

	t.Run("methods, paths and queries", func(t *testing.T) {
		cases := []struct {
			method, path, query, body string
			wantPath                  string
		}{
			{method: "GET", path: "/api/v1/nodes/n1/proxy/pods", wantPath: "/pods"},
			{method: "GET", path: "/api/v1/nodes/n1/proxy/healthz", query: "verbose=1&watch=true", wantPath: "/healthz"},
			{method: "GET", path: "/api/v1/nodes/n1/proxy", wantPath: "/"},
			{method: "GET", path: "/api/v1/nodes/n1/proxy/", wantPath: "/"},
			{method: "GET", path: "/api/v1/nodes/n1/proxy/containerLogs/default/p%2Fq/c", wantPath: "/containerLogs/default/p%2Fq/c"},
			{method: "POST", path: "/api/v1/nodes/n1/proxy/run/default/p/c", query: "cmd=ls", body: "data", wantPath: "/run/default/p/c"},
			{method: "PUT", path: "/api/v1/nodes/n1/proxy/x", body: "put", wantPath: "/x"},
			{method: "DELETE", path: "/api/v1/nodes/n1/proxy/x", wantPath: "/x"},
		}
		for _, tc := range cases {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				req, err := http.NewRequest(tc.method, s.URL+tc.path+"?"+tc.query, bodyOf(tc.body))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+s.Config.BearerToken)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				var got echoed
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
				assert.Equal(t, echoed{Method: tc.method, Path: tc.wantPath, RawQuery: tc.query, Body: tc.body}, got)
			})
		}
	})
	t.Run("client-go", func(t *testing.T) {
		b, err := rc.Get().AbsPath("/api/v1/nodes/n1/proxy/pods").DoRaw(ctx)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"Path":"/pods"`)
		b, err = rc.Get().Resource("nodes").Name("n1").SubResource("proxy").Suffix("healthz").Param("a", "b").DoRaw(ctx)
		require.NoError(t, err)
		assert.Contains(t, string(b), `"Path":"/healthz"`)
	})
	t.Run("the agent's answer passes unchanged", func(t *testing.T) {
		req, err := http.NewRequest("GET", s.URL+"/api/v1/nodes/n1/proxy/teapot", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.Config.BearerToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusTeapot, resp.StatusCode)
		assert.Equal(t, "yes", resp.Header.Get("X-Agent"))
		assert.Equal(t, "short and stout", string(body))
	})
	t.Run("errors", func(t *testing.T) {
		_, err := rc.Get().AbsPath("/api/v1/nodes/absent/proxy/pods").DoRaw(ctx)
		assert.True(t, apierrors.IsNotFound(err), "%v", err)
		_, err = rc.Get().AbsPath("/api/v1/namespaces/default/pods/p/proxy/x").DoRaw(ctx)
		assert.True(t, apierrors.IsNotFound(err), "pods/proxy is not served: %v", err)
		req, err := http.NewRequest("GET", s.URL+"/api/v1/nodes/n1/proxy/a/%2e%2e/b", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.Config.BearerToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("rbac", func(t *testing.T) {
		nobody, err := kubernetes.NewForConfig(s.ConfigFor("nobody"))
		require.NoError(t, err)
		err = nobody.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/n1/proxy/pods").Do(ctx).Error()
		require.True(t, apierrors.IsForbidden(err), "%v", err)
		assert.Contains(t, err.Error(), `cannot get resource "nodes/proxy"`)

		// Allowed to get nodes/proxy, not to create it. (kubectl below
		// sends no token over plain HTTP: it is anonymous.)
		_, err = s.Client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "node-proxy-reader"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/proxy"}, Verbs: []string{"get"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = s.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "node-proxy-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "node-proxy-reader"},
			Subjects: []rbacv1.Subject{
				{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "reader"},
				{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "system:anonymous"},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		reader, err := kubernetes.NewForConfig(s.ConfigFor("reader"))
		require.NoError(t, err)
		// The authorizer sees the new role and binding through its watch
		// caches, one per kind: the binding may come before the role.
		var b []byte
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			b, err = reader.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/n1/proxy/pods").DoRaw(ctx)
			assert.NoError(c, err)
		}, 20*time.Second, 10*time.Millisecond)
		assert.Contains(t, string(b), `"Path":"/pods"`)
		err = reader.CoreV1().RESTClient().Post().AbsPath("/api/v1/nodes/n1/proxy/pods").Do(ctx).Error()
		require.True(t, apierrors.IsForbidden(err), "%v", err)
		assert.Contains(t, err.Error(), `cannot create resource "nodes/proxy"`)
	})
	t.Run("discovery", func(t *testing.T) {
		list, err := s.Client.Discovery().ServerResourcesForGroupVersion("v1")
		require.NoError(t, err)
		var found *metav1.APIResource
		for i := range list.APIResources {
			if list.APIResources[i].Name == "nodes/proxy" {
				found = &list.APIResources[i]
			}
		}
		require.NotNil(t, found, "nodes/proxy in discovery")
		assert.Equal(t, "NodeProxyOptions", found.Kind)
		assert.ElementsMatch(t, []string{"create", "delete", "get", "patch", "update"}, found.Verbs)
	})
	t.Run("kubectl", func(t *testing.T) { // after rbac, which lets anonymous get nodes/proxy
		bins := kubectlBinaries(t)
		for name, bin := range bins {
			t.Run(name, func(t *testing.T) {
				k := &kubectlRunner{t: t, bin: bin, server: s.URL, home: t.TempDir()}
				out := k.run("get", "--raw", "/api/v1/nodes/n1/proxy/healthz")
				assert.Contains(t, out, `"Path":"/healthz"`)
			})
		}
	})
}

// bodyOf is a request body with s, none when s is empty.
func bodyOf(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}
