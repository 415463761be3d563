package apiserver

import (
	"net/http"
	"sync"

	"github.com/gantryhq/gantry/apiserver/openapi"
)

// openAPI builds the OpenAPI documents of the served resources on first use
// (building takes ~100 ms, which in-process test clusters need not pay) and
// serves /openapi/v2 and /openapi/v3.
type openAPI struct {
	build func() (*openapi.Documents, error)
}

func newOpenAPI(s *Server) *openAPI {
	return &openAPI{build: sync.OnceValues(func() (*openapi.Documents, error) {
		cfg := openapi.Config{Title: "Kubernetes", Version: s.opts.Version.GitVersion, FieldValidation: true}
		for _, gv := range s.groups {
			for _, res := range s.byGV[gv] {
				r := openapi.Resource{
					GroupVersionKind: res.GroupVersionKind,
					Plural:           res.Plural,
					Namespaced:       res.Namespaced,
					Object:           res.New(),
					List:             res.NewList(),
					Verbs:            s.verbs(res),
				}
				for _, sub := range s.subresources(res) {
					r.Subresources = append(r.Subresources, openapi.Subresource{
						Name: sub.name, Object: sub.object, GroupVersionKind: sub.kind, Verbs: openAPIVerbs(sub.verbs),
					})
				}
				cfg.Resources = append(cfg.Resources, r)
			}
		}
		return openapi.New(cfg)
	})}
}

// openAPIVerbs maps subresource verbs to the HTTP-level verbs of the
// documents, which describe get, create, update and patch of a subresource
// only (nodes/proxy's delete is served but not documented).
func openAPIVerbs(verbs []string) []string {
	var out []string
	for _, v := range verbs {
		if v != "delete" {
			out = append(out, v)
		}
	}
	return out
}

func (o *openAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	docs, err := o.build()
	if err != nil {
		http.Error(w, "building the OpenAPI documents: "+err.Error(), http.StatusInternalServerError)
		return
	}
	docs.ServeHTTP(w, r)
}
