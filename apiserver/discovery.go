package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/gantryhq/gantry/store"
)

// aggregatedContentType is the media type of an aggregated discovery
// response; clients check it to tell it from the legacy documents.
const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// subresource describes a subresource in discovery.
type subresource struct {
	name   string
	kind   schema.GroupVersionKind
	verbs  []string
	object runtime.Object // an empty object of the kind
}

// subresources lists the subresources res serves.
func (s *Server) subresources(res *Resource) []subresource {
	var out []subresource
	if res.Status {
		out = append(out, subresource{"status", res.GroupVersionKind, statusVerbs, res.New()})
	}
	if res.Scale != nil {
		out = append(out, subresource{"scale", autoscalingv1.SchemeGroupVersion.WithKind("Scale"), statusVerbs, &autoscalingv1.Scale{}})
	}
	if isCorePods(res) {
		out = append(out,
			subresource{"binding", corev1.SchemeGroupVersion.WithKind("Binding"), createOnlyVerbs, &corev1.Binding{}},
			subresource{"eviction", policyv1.SchemeGroupVersion.WithKind("Eviction"), createOnlyVerbs, &policyv1.Eviction{}},
			subresource{"log", res.GroupVersionKind, getOnlyVerbs, nil},
			subresource{"exec", corev1.SchemeGroupVersion.WithKind("PodExecOptions"), execVerbs, &corev1.PodExecOptions{}},
			subresource{"attach", corev1.SchemeGroupVersion.WithKind("PodAttachOptions"), attachVerbs, &corev1.PodAttachOptions{}},
			subresource{"portforward", corev1.SchemeGroupVersion.WithKind("PodPortForwardOptions"), portForwardVerbs, &corev1.PodPortForwardOptions{}},
		)
	}
	if isCoreNodes(res) {
		out = append(out, subresource{"proxy", corev1.SchemeGroupVersion.WithKind("NodeProxyOptions"), nodeProxyVerbs, &corev1.NodeProxyOptions{}})
	}
	if isCoreServiceAccounts(res) && s.opts.TokenIssuer != nil {
		out = append(out, subresource{"token", authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), createOnlyVerbs, &authenticationv1.TokenRequest{}})
	}
	if isCoreNamespaces(res) {
		out = append(out, subresource{"finalize", res.GroupVersionKind, namespaceFinalize, res.New()})
	}
	return out
}

func (s *Server) verbs(res *Resource) []string {
	v, _ := s.subresourceVerbs(res, "")
	return v
}

func (s *Server) singular(res *Resource) string {
	if res.Singular != "" {
		return res.Singular
	}
	return strings.ToLower(res.GroupVersionKind.Kind)
}

// resourceList is the legacy discovery document of one group version.
func (s *Server) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{GroupVersion: gv.String(), APIResources: []metav1.APIResource{}}
	for _, res := range s.byGV[gv] {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name:         res.Plural,
			SingularName: s.singular(res),
			Namespaced:   res.Namespaced,
			Kind:         res.GroupVersionKind.Kind,
			Verbs:        s.verbs(res),
			ShortNames:   res.ShortNames,
			Categories:   res.Categories,
		})
		for _, sub := range s.subresources(res) {
			r := metav1.APIResource{
				Name:       res.Plural + "/" + sub.name,
				Namespaced: res.Namespaced,
				Kind:       sub.kind.Kind,
				Verbs:      sub.verbs,
			}
			if sub.kind.GroupVersion() != gv {
				r.Group, r.Version = sub.kind.Group, sub.kind.Version
			}
			list.APIResources = append(list.APIResources, r)
		}
	}
	return list
}

// groupDiscovery is the aggregated discovery entry of one group.
func (s *Server) groupDiscovery(group string) apidiscoveryv2.APIGroupDiscovery {
	g := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group}}
	for _, gv := range s.groups {
		if gv.Group != group {
			continue
		}
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, res := range s.byGV[gv] {
			scope := apidiscoveryv2.ScopeCluster
			if res.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			kind := res.GroupVersionKind
			d := apidiscoveryv2.APIResourceDiscovery{
				Resource:         res.Plural,
				ResponseKind:     &metav1.GroupVersionKind{Group: kind.Group, Version: kind.Version, Kind: kind.Kind},
				Scope:            scope,
				SingularResource: s.singular(res),
				Verbs:            s.verbs(res),
				ShortNames:       res.ShortNames,
				Categories:       res.Categories,
			}
			for _, sub := range s.subresources(res) {
				d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
					Subresource:  sub.name,
					ResponseKind: &metav1.GroupVersionKind{Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind},
					Verbs:        sub.verbs,
				})
			}
			v.Resources = append(v.Resources, d)
		}
		g.Versions = append(g.Versions, v)
	}
	return g
}

// wantsAggregated reports whether the client asked for aggregated discovery
// (and prefers it to the legacy documents it also accepts).
func (s *Server) wantsAggregated(r *http.Request) bool {
	out, err := s.codecs.negotiateOutput(r, asDiscovery)
	return err == nil && out.as == asDiscovery
}

func (s *Server) writeAggregated(w http.ResponseWriter, r *http.Request, groups []string) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{}
	for _, g := range groups {
		list.Items = append(list.Items, s.groupDiscovery(g))
	}
	out := s.codecs.jsonOutput()
	w.Header().Set("Vary", "Accept")
	if err := s.codecs.encodeAs(out, list, w, http.StatusOK, aggregatedContentType); err != nil {
		s.log.ErrorContext(r.Context(), "writing discovery", "err", err)
	}
}

// serveCoreVersions serves /api.
func (s *Server) serveCoreVersions(w http.ResponseWriter, r *http.Request) {
	if s.wantsAggregated(r) {
		s.writeAggregated(w, r, []string{""})
		return
	}
	versions := &metav1.APIVersions{
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress(r)}},
	}
	for _, gv := range s.groups {
		if gv.Group == "" {
			versions.Versions = append(versions.Versions, gv.Version)
		}
	}
	s.writeDiscovery(w, r, versions)
}

// serveGroups serves /apis.
func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, gv := range s.groups {
		if gv.Group != "" && !contains(names, gv.Group) {
			names = append(names, gv.Group)
		}
	}
	if s.wantsAggregated(r) {
		s.writeAggregated(w, r, names)
		return
	}
	list := &metav1.APIGroupList{Groups: []metav1.APIGroup{}}
	for _, name := range names {
		list.Groups = append(list.Groups, *s.apiGroup(name, r))
	}
	s.writeDiscovery(w, r, list)
}

func (s *Server) apiGroup(name string, r *http.Request) *metav1.APIGroup {
	g := &metav1.APIGroup{Name: name}
	for _, gv := range s.groups {
		if gv.Group == name {
			g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version})
		}
	}
	g.PreferredVersion = g.Versions[0]
	g.ServerAddressByClientCIDRs = []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: serverAddress(r)}}
	return g
}

// serveGroup serves /apis/<group>.
func (s *Server) serveGroup(w http.ResponseWriter, r *http.Request, name string) {
	for _, gv := range s.groups {
		if gv.Group == name && name != "" {
			s.writeDiscovery(w, r, s.apiGroup(name, r))
			return
		}
	}
	s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, name))
}

// serveResourceList serves /api/v1 and /apis/<group>/<version>.
func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) {
	if _, ok := s.byGV[gv]; !ok {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, gv.String()))
		return
	}
	s.writeDiscovery(w, r, s.resourceList(gv))
}

func (s *Server) writeDiscovery(w http.ResponseWriter, r *http.Request, obj runtime.Object) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{}, r.Method))
		return
	}
	if err := s.writeObject(w, r, nil, http.StatusOK, obj); err != nil {
		s.writeError(w, r, err)
	}
}

func serverAddress(r *http.Request) string {
	if _, _, err := net.SplitHostPort(r.Host); err == nil {
		return r.Host
	}
	if r.TLS != nil {
		return r.Host + ":443"
	}
	return r.Host + ":80"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// servedKubernetesVersion is the Kubernetes version of the k8s.io/api module
// in go.mod, for binaries without module build information (tests).
const servedKubernetesVersion = "v1.37.2"

// defaultVersion reports the Kubernetes version of the served API types:
// k8s.io/api v0.X.Y serves Kubernetes 1.X.Y.
func defaultVersion() version.Info {
	v := version.Info{Major: "1", Minor: "37", GitVersion: servedKubernetesVersion, GoVersion: goruntime.Version(),
		Compiler: goruntime.Compiler, Platform: goruntime.GOOS + "/" + goruntime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path != "k8s.io/api" {
				continue
			}
			var minor, patch int
			if _, err := fmt.Sscanf(dep.Version, "v0.%d.%d", &minor, &patch); err == nil {
				v.Minor = fmt.Sprint(minor)
				v.GitVersion = fmt.Sprintf("v1.%d.%d", minor, patch)
			}
		}
	}
	return v
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.opts.Version)
}

// serveHealth serves /healthz, /livez and /readyz. Readiness needs the store.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/readyz") || strings.HasPrefix(r.URL.Path, "/healthz") {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.opts.Store.List(ctx, store.ObjectPrefix("namespaces", ""), store.ListOptions{Limit: 1}); err != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, "[-]etcd failed: %v\nhealthz check failed\n", err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprint(w, "[+]ping ok\n[+]etcd ok\nhealthz check passed\n")
		return
	}
	fmt.Fprint(w, "ok")
}
