package openapi

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The media types a PATCH accepts, as the Kubernetes API server lists them.
var patchMediaTypes = []string{
	"application/apply-patch+yaml",
	"application/json-patch+json",
	"application/merge-patch+json",
	"application/strategic-merge-patch+json",
}

// swagger renders the OpenAPI v2 document.
func (m *model) swagger(cfg Config) map[string]any {
	defs := make(map[string]any, len(m.defs))
	for name, d := range m.defs {
		defs[name] = renderDefinition(d, false)
	}
	paths := make(map[string]any, len(m.paths))
	for _, p := range m.paths {
		paths[p.path] = renderPath(p, false)
	}
	return map[string]any{
		"swagger":     "2.0",
		"info":        map[string]any{"title": cfg.Title, "version": cfg.Version},
		"paths":       paths,
		"definitions": defs,
	}
}

// openAPIV3 renders the OpenAPI v3 document of one group-version: its paths
// and the definitions they reach.
func (m *model) openAPIV3(cfg Config, gv schema.GroupVersion) map[string]any {
	paths := map[string]any{}
	var refs []string
	for _, p := range m.paths {
		if p.gv != gv || p.v2Only {
			continue
		}
		paths[p.path] = renderPath(p, true)
		for _, op := range p.ops {
			refs = appendNew(refs, op.body)
			for _, r := range op.responses {
				refs = appendNew(refs, r.def)
			}
		}
	}
	// Every group-version serves these, as in Kubernetes.
	for _, t := range []reflect.Type{metaStatus, metaDeleteOptions, metaWatchEvent} {
		refs = appendNew(refs, definitionName(t))
	}
	// Close over the references.
	for i := 0; i < len(refs); i++ {
		for _, r := range m.defs[refs[i]].refs {
			refs = appendNew(refs, r)
		}
	}
	schemas := make(map[string]any, len(refs))
	for _, name := range refs {
		schemas[name] = renderDefinition(m.defs[name], true)
	}
	return map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]any{"title": cfg.Title, "version": cfg.Version},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas},
	}
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func refPrefix(v3 bool) string {
	if v3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}

func renderDefinition(d *definition, v3 bool) map[string]any {
	m := renderNode(d.schema, v3)
	if len(d.gvks) > 0 {
		gvks := make([]any, 0, len(d.gvks))
		for _, gvk := range d.gvks {
			gvks = append(gvks, gvkExtension(gvk))
		}
		m["x-kubernetes-group-version-kind"] = gvks
	}
	return m
}

func gvkExtension(gvk schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// renderNode renders a schema. A reference with a description or
// extensions is wrapped in allOf in v3, where siblings of $ref are ignored;
// v2 (and kubectl's v2 parser) keep them beside the $ref, as Kubernetes does.
func renderNode(n *node, v3 bool) map[string]any {
	m := map[string]any{}
	if n.description != "" {
		m["description"] = n.description
	}
	for k, v := range n.ext {
		m[k] = v
	}
	if n.ref != "" {
		ref := map[string]any{"$ref": refPrefix(v3) + n.ref}
		if !v3 || len(m) == 0 {
			m["$ref"] = ref["$ref"]
		} else {
			m["allOf"] = []any{ref}
		}
		return m
	}
	if v3 && len(n.oneOf) > 0 {
		alts := make([]any, 0, len(n.oneOf))
		for _, t := range n.oneOf {
			alts = append(alts, map[string]any{"type": t})
		}
		m["oneOf"] = alts
	} else if n.typ != "" {
		m["type"] = n.typ
	}
	if n.format != "" {
		m["format"] = n.format
	}
	if n.items != nil {
		m["items"] = renderNode(n.items, v3)
	}
	if n.additional != nil {
		m["additionalProperties"] = renderNode(n.additional, v3)
	}
	if n.properties != nil {
		props := make(map[string]any, len(n.properties))
		for name, p := range n.properties {
			props[name] = renderNode(p, v3)
		}
		m["properties"] = props
	}
	if len(n.required) > 0 {
		m["required"] = n.required
	}
	return m
}

func renderRef(def string, v3 bool) map[string]any {
	return map[string]any{"$ref": refPrefix(v3) + def}
}

func renderPath(p *pathItem, v3 bool) map[string]any {
	m := map[string]any{}
	if len(p.params) > 0 {
		m["parameters"] = renderParams(p.params, v3)
	}
	for _, op := range p.ops {
		m[op.method] = renderOperation(op, v3)
	}
	return m
}

func renderParams(ps []param, v3 bool) []any {
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		m := map[string]any{"name": p.name, "in": p.in, "description": p.description}
		if p.required {
			m["required"] = true
		}
		if v3 {
			m["schema"] = map[string]any{"type": p.typ, "uniqueItems": true}
		} else {
			m["type"] = p.typ
			m["uniqueItems"] = true
		}
		out = append(out, m)
	}
	return out
}

func renderOperation(op *operation, v3 bool) map[string]any {
	m := map[string]any{
		"operationId": op.id,
		"description": op.description,
		"tags":        []string{op.tag},
	}
	if op.action != "" {
		m["x-kubernetes-action"] = op.action
	}
	if op.gvk != nil {
		m["x-kubernetes-group-version-kind"] = gvkExtension(*op.gvk)
	}
	params := renderParams(op.params, v3)
	consumes := []string{"*/*"}
	if op.patch {
		consumes = patchMediaTypes
	}
	// Bodies of deletes are optional; all others are required.
	bodyRequired := op.method != "delete"
	if op.body != "" {
		if v3 {
			content := map[string]any{}
			for _, mt := range consumes {
				content[mt] = map[string]any{"schema": renderRef(op.body, v3)}
			}
			body := map[string]any{"content": content}
			if bodyRequired {
				body["required"] = true
			}
			m["requestBody"] = body
		} else {
			body := map[string]any{"name": "body", "in": "body", "schema": renderRef(op.body, v3)}
			if bodyRequired {
				body["required"] = true
			}
			params = append([]any{body}, params...)
		}
	}
	if len(params) > 0 {
		m["parameters"] = params
	}
	responses := map[string]any{}
	for _, r := range op.responses {
		var s map[string]any
		if r.text || r.def == "" {
			s = map[string]any{"type": "string"}
		} else {
			s = renderRef(r.def, v3)
		}
		resp := map[string]any{"description": http.StatusText(r.code)}
		if v3 {
			content := map[string]any{}
			for _, mt := range op.produces {
				content[mt] = map[string]any{"schema": s}
			}
			resp["content"] = content
		} else {
			resp["schema"] = s
		}
		responses[strconv.Itoa(r.code)] = resp
	}
	responses["401"] = map[string]any{"description": http.StatusText(http.StatusUnauthorized)}
	m["responses"] = responses
	if !v3 {
		m["consumes"] = consumes
		m["produces"] = op.produces
		m["schemes"] = []string{"https"}
	}
	return m
}
