package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// DefaultAlwaysAllowPaths are the paths every client may reach without
// credentials or authorization when Options.AlwaysAllowPaths is nil: the
// health checks (kube-apiserver's --authorization-always-allow-paths).
var DefaultAlwaysAllowPaths = []string{"/healthz", "/livez", "/readyz"}

// allowNonResource authenticates and authorizes a request outside the
// resources (discovery, /version, /openapi, /metrics) and writes the error
// when it may not proceed. The always-allowed paths and the paths below
// them pass untouched; resource requests are checked by serveResource.
func (s *Server) allowNonResource(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := parseResourcePath(r); ok {
		return true
	}
	for _, p := range s.alwaysAllow {
		if r.URL.Path == p || strings.HasPrefix(r.URL.Path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	r, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	attrs := Attributes{User: UserFrom(r.Context()), Verb: strings.ToLower(r.Method), Path: r.URL.Path}
	if err := s.authorize(r.Context(), attrs, schema.GroupResource{}); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}
