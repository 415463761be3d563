package apiserver

import (
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what the URL and method of an API request say.
type requestInfo struct {
	// Verb is one of get, list, watch, create, update, patch, delete,
	// deletecollection.
	Verb         string
	GroupVersion schema.GroupVersion
	Namespace    string
	Resource     string
	Name         string
	Subresource  string
}

// parseResourcePath parses the path of a resource request:
//
//	/api/v1/<resource>[/<name>[/<subresource>]]
//	/api/v1/namespaces/<namespace>/<resource>[/<name>[/<subresource>]]
//	/apis/<group>/<version>/...   (the same below the version)
//	/api/v1/<resource>/<name>/proxy/<path>   (a proxy subresource and the path it proxies)
//
// It returns false for paths that are not resource requests (discovery,
// health, ...). A leading /watch/ segment after the version is the legacy
// form of ?watch=true.
func parseResourcePath(r *http.Request) (requestInfo, bool) {
	parts := splitPath(r.URL.Path)
	var info requestInfo
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.GroupVersion = schema.GroupVersion{Version: parts[1]}
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.GroupVersion = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return info, false
	}
	legacyWatch := false
	if parts[0] == "watch" {
		legacyWatch = true
		parts = parts[1:]
		if len(parts) == 0 {
			return info, false
		}
	}
	// namespaces/<ns>/<resource>/... addresses an object in a namespace;
	// namespaces, namespaces/<name> and namespaces/<name>/<sub> address the
	// namespace objects themselves.
	if parts[0] == "namespaces" && len(parts) >= 3 && !isNamespaceSubresource(parts[2], len(parts)) {
		info.Namespace = parts[1]
		parts = parts[2:]
	}
	// <resource>/<name>/proxy/<path...> (nodes/proxy) carries a path of
	// its own after the subresource.
	proxyPath := len(parts) > 3 && parts[2] == "proxy"
	if len(parts) > 3 && !proxyPath {
		return info, false
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}

	// A proxied request's query is the proxied server's, not a watch.
	watch := legacyWatch || (info.Subresource != "proxy" && isTrue(r.URL.Query().Get("watch")))
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watch:
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		if info.Name == "" {
			info.Verb = "deletecollection"
		} else {
			info.Verb = "delete"
		}
	default:
		info.Verb = strings.ToLower(r.Method)
	}
	return info, true
}

// isNamespaceSubresource tells /namespaces/<name>/<sub> (a subresource of a
// namespace) from /namespaces/<ns>/<resource> (a collection in it).
func isNamespaceSubresource(seg string, n int) bool {
	if n != 3 {
		return false
	}
	switch seg {
	case "status", "finalize":
		return true
	}
	return false
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func isTrue(s string) bool { return s == "1" || strings.EqualFold(s, "true") }
