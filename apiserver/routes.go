package apiserver

import (
	"context"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func (s *Server) routes(gatherer prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/api", s.serveAPI)
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/apis", s.serveAPI)
	mux.HandleFunc("/apis/", s.serveAPI)
	mux.HandleFunc("/version", s.serveVersion)
	mux.HandleFunc("/version/", s.serveVersion)
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		mux.HandleFunc(p, s.serveHealth)
		mux.HandleFunc(p+"/", s.serveHealth)
	}
	mux.Handle("/openapi/", s.openAPI)
	if gatherer != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, strings.TrimPrefix(r.URL.Path, "/")))
	})
	return mux
}

// serveAPI dispatches everything under /api and /apis: discovery documents
// and resource requests.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) == 1 && parts[0] == "api":
		s.serveCoreVersions(w, r)
		return
	case len(parts) == 1 && parts[0] == "apis":
		s.serveGroups(w, r)
		return
	case len(parts) == 2 && parts[0] == "api":
		s.serveResourceList(w, r, schema.GroupVersion{Version: parts[1]})
		return
	case len(parts) == 2 && parts[0] == "apis":
		s.serveGroup(w, r, parts[1])
		return
	case len(parts) == 3 && parts[0] == "apis":
		s.serveResourceList(w, r, schema.GroupVersion{Group: parts[1], Version: parts[2]})
		return
	}
	info, ok := parseResourcePath(r)
	if !ok {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	s.serveResource(w, r, info)
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, info requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}
