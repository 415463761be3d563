package apiserver

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// nodeProxyVerbs are the verbs of nodes/proxy: every method maps to one
// (GET get, POST create, PUT update, PATCH patch, DELETE delete).
var nodeProxyVerbs = []string{"create", "delete", "get", "patch", "update"}

func isCoreNodes(res *Resource) bool {
	return res.GroupVersionKind == corev1.SchemeGroupVersion.WithKind("Node")
}

// handleNodeProxy serves /api/v1/nodes/<name>/proxy[/<path>] (any method):
// it forwards the request, with its method, path below proxy/, query and
// body, to the node agent of the node (through Options.NodeConnection, as
// logs and exec go), and copies the agent's answer back as it is, so that
// `kubectl get --raw /api/v1/nodes/<name>/proxy/pods` lists the pods the
// agent runs. The caller was authorized on nodes/proxy; the agent
// authorizes the API server itself. It blocks until the answer is copied
// (or, for a connection upgrade, until the session ends).
func (s *Server) handleNodeProxy(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	obj, _, err := s.getObject(r.Context(), res, "", info.Name)
	if err != nil {
		return err
	}
	node := obj.(*corev1.Node)
	base, transport, err := s.opts.NodeConnection(r.Context(), node)
	if err != nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("node %s: %v", node.Name, err))
	}
	rest, err := proxiedPath(r.URL, "/nodes/"+url.PathEscape(info.Name)+"/proxy")
	if err != nil {
		return err
	}
	target := *base
	target.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + rest
	if target.Path, err = url.PathUnescape(target.RawPath); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the proxied path %q: %v", rest, err))
	}
	target.RawQuery = r.URL.RawQuery
	s.proxyToNodeAgent(w, r, node.Name, &target, transport)
	return nil
}

// proxiedPath is the escaped path of u after marker (the path of a proxy
// subresource, ".../nodes/<name>/proxy"), "/" when there is none. It
// refuses ".." segments, which would leave the proxied API.
func proxiedPath(u *url.URL, marker string) (string, error) {
	p := u.EscapedPath()
	i := strings.Index(p, marker)
	if i < 0 {
		return "", apierrors.NewBadRequest(fmt.Sprintf("the path %q has no %q", p, marker))
	}
	rest := p[i+len(marker):]
	if rest == "" {
		return "/", nil
	}
	if !strings.HasPrefix(rest, "/") {
		return "", apierrors.NewNotFound(corev1.Resource("nodes"), strings.TrimPrefix(p, "/"))
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == ".." || strings.EqualFold(seg, "%2e%2e") {
			return "", apierrors.NewBadRequest(fmt.Sprintf("the proxied path %q may not contain \"..\"", rest))
		}
	}
	return rest, nil
}

// proxyToNodeAgent forwards r to target on the agent of node through
// transport and copies the answer back, connection upgrades (WebSocket,
// SPDY) included, flushing as data arrives. The client's credentials are
// for the API server and are not forwarded: the agent sees the API
// server's own (the transport's). When the agent cannot be reached the
// client gets 503. It blocks until the exchange or session is over.
func (s *Server) proxyToNodeAgent(w http.ResponseWriter, r *http.Request, node string, target *url.URL, transport http.RoundTripper) {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The upgrade headers (Connection, Upgrade, Sec-WebSocket-*,
			// X-Stream-Protocol-Version) pass.
			pr.Out.URL = target
			pr.Out.Host = target.Host
			for _, h := range []string{"Authorization", "Cookie", "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"} {
				pr.Out.Header.Del(h)
			}
			for h := range pr.Out.Header {
				if strings.HasPrefix(h, "Impersonate-Extra-") {
					pr.Out.Header.Del(h)
				}
			}
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("reaching the node agent of %s: %v", node, err)))
		},
	}
	proxy.ServeHTTP(w, r)
}
