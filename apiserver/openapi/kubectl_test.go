package openapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/apiserver/openapi"
)

// fakeServer serves the documents, legacy discovery for the resources, and
// a pods collection that remembers what was posted; anything else is 404.
type fakeServer struct {
	docs      *openapi.Documents
	resources []openapi.Resource

	mu     sync.Mutex
	posts  []url.Values // query of each POST of a pod
	bodies []map[string]any
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case strings.HasPrefix(path, "/openapi/"):
		f.docs.ServeHTTP(w, r)
	case path == "/version":
		writeJSON(w, http.StatusOK, map[string]string{"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"})
	case path == "/api":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
	case path == "/apis":
		writeJSON(w, http.StatusOK, f.groups())
	case path == "/api/v1" || strings.Count(path, "/") == 3 && strings.HasPrefix(path, "/apis/"):
		gv, err := schema.ParseGroupVersion(strings.TrimPrefix(strings.TrimPrefix(path, "/api/"), "/apis/"))
		if err != nil {
			writeStatus(w, http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, f.resourceList(gv))
	case path == "/api/v1/namespaces/default/pods" && r.Method == http.MethodPost:
		var obj map[string]any
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			writeStatus(w, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.posts = append(f.posts, r.URL.Query())
		f.bodies = append(f.bodies, obj)
		f.mu.Unlock()
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			obj["metadata"] = meta
		}
		meta["namespace"] = "default"
		meta["uid"] = "6f1c2a4e-0000-4000-8000-000000000001"
		meta["resourceVersion"] = "1"
		meta["creationTimestamp"] = "2026-01-01T00:00:00Z"
		writeJSON(w, http.StatusCreated, obj)
	default:
		writeStatus(w, http.StatusNotFound)
	}
}

func (f *fakeServer) requests() ([]url.Values, []map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.posts...), append([]map[string]any(nil), f.bodies...)
}

func (f *fakeServer) groups() *metav1.APIGroupList {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, r := range f.resources {
		gv := r.GroupVersionKind.GroupVersion()
		if gv.Group == "" || len(list.Groups) > 0 && list.Groups[len(list.Groups)-1].Name == gv.Group {
			continue
		}
		v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
	}
	return list
}

func (f *fakeServer) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, r := range f.resources {
		if r.GroupVersionKind.GroupVersion() != gv {
			continue
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.Plural, SingularName: strings.ToLower(r.GroupVersionKind.Kind), Namespaced: r.Namespaced,
			Kind: r.GroupVersionKind.Kind, Verbs: r.Verbs,
		})
		for _, s := range r.Subresources {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: r.Plural + "/" + s.Name, Namespaced: r.Namespaced, Kind: r.GroupVersionKind.Kind, Verbs: s.Verbs,
			})
		}
	}
	return list
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int) {
	writeJSON(w, code, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Reason: metav1.StatusReason(http.StatusText(code)),
		Message: http.StatusText(code),
	})
}

// kubectlBinaries finds kubectl on PATH and the versioned binaries beside
// its real file.
func kubectlBinaries(t *testing.T) map[string]string {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("kubectl is not on PATH: %v", err)
		}
		t.Skipf("kubectl is not on PATH: %v", err)
	}
	bins := map[string]string{"PATH": path}
	real, err := filepath.EvalSymlinks(path)
	require.NoError(t, err)
	for _, v := range []string{"1.27", "1.33"} {
		bin := filepath.Join(filepath.Dir(real), "kubectl."+v)
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Errorf("kubectl %s: %v", v, err)
			}
			continue
		}
		bins[v] = bin
	}
	return bins
}

type kubectl struct {
	bin, server, home string
}

func (k kubectl) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--server", k.server, "--cache-dir", filepath.Join(k.home, "cache"), "--namespace", "default"}, args...)
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+k.home, "KUBECONFIG="+filepath.Join(k.home, "config"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (k kubectl) explain(t *testing.T, args ...string) string {
	t.Helper()
	out, err := k.run(t, append([]string{"explain"}, args...)...)
	require.NoError(t, err, out)
	return out
}

func writeManifest(t *testing.T, dir, name, content string) string {
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

const goodPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx:1.27
    ports:
    - containerPort: 80
    resources:
      limits: {cpu: 1, memory: 64Mi}
`

const unknownFieldPod = `apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
  - name: web
    imagex: nginx:1.27
`

// TestKubectl runs real kubectl binaries against the documents.
func TestKubectl(t *testing.T) {
	bins := kubectlBinaries(t)
	plain, strict := testDocuments(t)
	for version, bin := range bins {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			server := func(docs *openapi.Documents) (*fakeServer, kubectl) {
				f := &fakeServer{docs: docs, resources: testResources()}
				srv := httptest.NewServer(f)
				t.Cleanup(srv.Close)
				k := kubectl{bin: bin, server: srv.URL, home: t.TempDir()}
				// The kubeconfig may be empty: --server says where to go.
				require.NoError(t, os.WriteFile(filepath.Join(k.home, "config"), nil, 0o600))
				return f, k
			}
			_, k := server(plain)

			t.Run("explain pod.spec.containers", func(t *testing.T) {
				out := k.explain(t, "pod.spec.containers")
				assert.Contains(t, out, "KIND:       Pod")
				assert.Contains(t, out, "VERSION:    v1")
				assert.Contains(t, out, "A single application container that you want to run within a pod.")
				assert.Regexp(t, `name\s+<string> -required-`, out)
				assert.Regexp(t, `resources\s+<ResourceRequirements>`, out)
			})
			t.Run("explain deployment.spec", func(t *testing.T) {
				out := k.explain(t, "deployment.spec", "--api-version=apps/v1")
				assert.Contains(t, out, "GROUP:      apps")
				assert.Contains(t, out, "DeploymentSpec is the specification of the desired behavior of the")
				assert.Regexp(t, `selector\s+<LabelSelector> -required-`, out)
				assert.Regexp(t, `template\s+<PodTemplateSpec> -required-`, out)
			})
			t.Run("explain deployment.spec.template --recursive", func(t *testing.T) {
				out := k.explain(t, "deployment.spec.template", "--recursive")
				assert.Contains(t, out, "PodTemplateSpec describes the data a pod should have")
				assert.Regexp(t, `\n\s+containers\s+<\[\]Container> -required-`, out)
				assert.Regexp(t, `\n\s+livenessProbe\s+<Probe>`, out)
				assert.Regexp(t, `\n\s+creationTimestamp\s+<string>`, out)
			})
			t.Run("explain resource limits", func(t *testing.T) {
				out := k.explain(t, "pod.spec.containers.resources.limits")
				assert.Contains(t, out, "map[string]Quantity")
			})
			t.Run("explain with openapi v2", func(t *testing.T) {
				out := k.explain(t, "pod.spec.containers.ports", "--output=plaintext-openapiv2")
				assert.Contains(t, out, "ContainerPort represents a network port in a single container.")
			})

			t.Run("apply validates on the client", func(t *testing.T) {
				f, k := server(plain)
				dir := t.TempDir()
				out, err := k.run(t, "apply", "-f", writeManifest(t, dir, "typo.yaml", unknownFieldPod))
				require.Error(t, err, out)
				assert.Contains(t, out, `unknown field "imagex" in io.k8s.api.core.v1.Container`)
				posts, _ := f.requests()
				assert.Empty(t, posts, "kubectl must reject the manifest before sending it")

				out, err = k.run(t, "apply", "-f", writeManifest(t, dir, "pod.yaml", goodPod))
				require.NoError(t, err, out)
				assert.Contains(t, out, "pod/web created")
				posts, bodies := f.requests()
				require.Len(t, posts, 1)
				assert.Equal(t, "web", at(t, bodies[0], "metadata", "name"))
			})
			t.Run("apply leaves validation to the server", func(t *testing.T) {
				f, k := server(strict)
				out, err := k.run(t, "apply", "-f", writeManifest(t, t.TempDir(), "typo.yaml", unknownFieldPod))
				require.NoError(t, err, out)
				assert.Contains(t, out, "pod/typo created")
				posts, _ := f.requests()
				require.Len(t, posts, 1)
				assert.Equal(t, "Strict", posts[0].Get("fieldValidation"))
			})
			t.Run("create --validate=strict", func(t *testing.T) {
				f, k := server(plain)
				out, err := k.run(t, "create", "--validate=strict", "-f", writeManifest(t, t.TempDir(), "typo.yaml", unknownFieldPod))
				require.Error(t, err, out)
				assert.Contains(t, out, `unknown field "imagex" in io.k8s.api.core.v1.Container`)
				posts, _ := f.requests()
				assert.Empty(t, posts)
			})
		})
	}
}
