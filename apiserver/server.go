package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/gantryhq/gantry/store"
)

// DefaultMaxRequestBodyBytes is the largest request body the server reads
// (3 MiB, as Kubernetes): larger bodies get 413.
const DefaultMaxRequestBodyBytes = 3 << 20

// Options configure a Server. Only Store is required.
type Options struct {
	// Store holds the API objects. The server does not close it.
	Store store.Store
	// Resources are the served resources; nil means DefaultResources().
	Resources []Resource
	// Now returns the current time (creation and deletion timestamps);
	// nil means time.Now.
	Now func() time.Time
	// Logger receives request errors; nil means slog.Default().
	Logger *slog.Logger
	// MaxRequestBodyBytes bounds request bodies; 0 means the default.
	MaxRequestBodyBytes int64
	// Version is what /version reports; the zero value means the Kubernetes
	// version of the served API types.
	Version version.Info
	// Registerer receives the server's Prometheus metrics; nil means a
	// registry of the server's own, served at /metrics.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics when Registerer is set; nil serves nothing.
	Gatherer prometheus.Gatherer
	// MinRequestTimeout is the base of a watch's server-side timeout when the
	// client sets none (each watch lasts between it and twice it);
	// 0 means 30 minutes.
	MinRequestTimeout time.Duration
	// Authenticator identifies users; nil treats every request as
	// anonymous.
	Authenticator Authenticator
	// Authorizer decides what users may do; nil allows everything.
	// Requests outside the resources (discovery, /version, /openapi,
	// /metrics) are authenticated and authorized as non-resource requests
	// too, except AlwaysAllowPaths.
	Authorizer Authorizer
	// AlwaysAllowPaths (and the paths below them) are served to every
	// client without authentication or authorization; nil means
	// DefaultAlwaysAllowPaths, empty means none.
	AlwaysAllowPaths []string
	// Admission plugins, each a MutatingAdmission, a ValidatingAdmission or
	// both; mutating ones run in order before validation, validating ones in
	// order after it.
	Admission []any
	// ServiceClusterIPRange is where service cluster IPs come from; the
	// zero value means DefaultServiceClusterIPRange.
	ServiceClusterIPRange netip.Prefix
	// ServiceNodePortRange is where node ports come from; the zero value
	// means DefaultServiceNodePortRange.
	ServiceNodePortRange PortRange
	// AdvertiseAddress and AdvertisePort are where clients in the cluster
	// reach this server: the endpoints of the default/kubernetes service.
	// Without an address that service is not created.
	AdvertiseAddress string
	AdvertisePort    int
	// NodeConnection reaches node agents for pods/log; nil means
	// DefaultNodeConnection.
	NodeConnection NodeConnection
	// ComponentChecks are the components kubectl get componentstatuses
	// reports besides etcd (scheduler, controller-manager).
	ComponentChecks []ComponentCheck
	// BookmarkInterval is how often a watch that allows bookmarks gets one;
	// 0 means one minute.
	BookmarkInterval time.Duration
	// TokenIssuer signs the tokens of the TokenRequest API
	// (serviceaccounts/<name>/token); nil means the subresource is not
	// served.
	TokenIssuer TokenIssuer
	// APIAudiences are the audiences of this server's tokens
	// (--api-audiences): the default of TokenRequests and TokenReviews that
	// name none. Empty means ["https://kubernetes.default.svc.cluster.local"].
	APIAudiences []string
	// MaxTokenExpiration shortens longer TokenRequests
	// (--service-account-max-token-expiration); 0 means no limit.
	MaxTokenExpiration time.Duration
}

// DefaultAPIAudience is the default of Options.APIAudiences, which is also
// the default service account token issuer.
const DefaultAPIAudience = "https://kubernetes.default.svc.cluster.local"

// Server is the Kubernetes API over a Store. It is an http.Handler; it holds
// no state between requests beyond its configuration and metrics, so any
// number of Servers can share one store. Safe for concurrent use.
type Server struct {
	opts      Options
	codecs    codecs
	log       *slog.Logger
	now       func() time.Time
	resources map[schema.GroupVersionResource]*Resource
	// groups lists the served group versions in discovery order.
	groups        []schema.GroupVersion
	byGV          map[schema.GroupVersion][]*Resource
	metrics       *metrics
	mux           *http.ServeMux
	openAPI       *openAPI
	fieldManagers *fieldManagers
	alwaysAllow   []string
	// shared holds recent store events decoded and encoded once for all
	// watchers.
	shared sharedEvents
}

// New validates opts and returns a Server. It does not touch the store; call
// EnsureSystemObjects (or ListenAndServe, which does) before serving clients
// that expect the system namespaces.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("apiserver: Options.Store is required")
	}
	if opts.Resources == nil {
		opts.Resources = DefaultResources()
	}
	if opts.MaxRequestBodyBytes == 0 {
		opts.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if opts.MaxRequestBodyBytes < 0 {
		return nil, fmt.Errorf("apiserver: negative MaxRequestBodyBytes %d", opts.MaxRequestBodyBytes)
	}
	if opts.MinRequestTimeout == 0 {
		opts.MinRequestTimeout = 30 * time.Minute
	}
	if opts.BookmarkInterval == 0 {
		opts.BookmarkInterval = time.Minute
	}
	if len(opts.APIAudiences) == 0 {
		opts.APIAudiences = []string{DefaultAPIAudience}
	}
	if opts.MaxTokenExpiration < 0 {
		return nil, fmt.Errorf("apiserver: negative MaxTokenExpiration %v", opts.MaxTokenExpiration)
	}
	if !opts.ServiceClusterIPRange.IsValid() {
		opts.ServiceClusterIPRange = DefaultServiceClusterIPRange
	}
	if opts.ServiceClusterIPRange.Addr().BitLen()-opts.ServiceClusterIPRange.Bits() < 2 {
		return nil, fmt.Errorf("apiserver: service cluster IP range %s is too small", opts.ServiceClusterIPRange)
	}
	opts.ServiceClusterIPRange = opts.ServiceClusterIPRange.Masked()
	if opts.ServiceNodePortRange.Size == 0 {
		opts.ServiceNodePortRange = DefaultServiceNodePortRange
	}
	if r := opts.ServiceNodePortRange; r.Base < 1 || r.Base+r.Size-1 > 65535 || r.Size < 1 {
		return nil, fmt.Errorf("apiserver: invalid service node port range %v", r)
	}
	if opts.AdvertiseAddress != "" {
		if _, err := netip.ParseAddr(opts.AdvertiseAddress); err != nil {
			return nil, fmt.Errorf("apiserver: AdvertiseAddress: %w", err)
		}
		if opts.AdvertisePort < 1 || opts.AdvertisePort > 65535 {
			return nil, fmt.Errorf("apiserver: AdvertisePort %d out of range", opts.AdvertisePort)
		}
	}
	if opts.NodeConnection == nil {
		opts.NodeConnection = DefaultNodeConnection
	}
	if opts.Version.GitVersion == "" {
		opts.Version = defaultVersion()
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, fmt.Errorf("apiserver: building scheme: %w", err)
	}
	s := &Server{
		opts:      opts,
		codecs:    newCodecs(scheme),
		log:       opts.Logger,
		now:       opts.Now,
		resources: map[schema.GroupVersionResource]*Resource{},
		byGV:      map[schema.GroupVersion][]*Resource{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	for i := range opts.Resources {
		r := &opts.Resources[i]
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("apiserver: %w", err)
		}
		gvr := r.GroupVersionResource()
		if _, dup := s.resources[gvr]; dup {
			return nil, fmt.Errorf("apiserver: resource %s registered twice", gvr)
		}
		if !scheme.Recognizes(r.GroupVersionKind) {
			return nil, fmt.Errorf("apiserver: resource %s: kind %s is not a known Kubernetes type", gvr, r.GroupVersionKind)
		}
		s.resources[gvr] = r
		gv := gvr.GroupVersion()
		if _, seen := s.byGV[gv]; !seen {
			s.groups = append(s.groups, gv)
		}
		s.byGV[gv] = append(s.byGV[gv], r)
	}
	reg, gatherer := opts.Registerer, opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, gatherer = r, r
	}
	if s.metrics, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("apiserver: registering metrics: %w", err)
	}
	s.openAPI = newOpenAPI(s)
	s.fieldManagers = newFieldManagers(s, s.openAPI)
	s.mux = s.routes(gatherer)
	s.alwaysAllow = opts.AlwaysAllowPaths
	if s.alwaysAllow == nil {
		s.alwaysAllow = DefaultAlwaysAllowPaths
	}
	return s, nil
}

// ServeHTTP serves one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.allowNonResource(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// resourceFor returns the served resource of a request, or a 404 error.
func (s *Server) resourceFor(info requestInfo) (*Resource, error) {
	res, ok := s.resources[info.GroupVersion.WithResource(info.Resource)]
	if !ok {
		// What Kubernetes answers for a path it does not serve; client-go
		// words it the same way for a 404 without a Status.
		return nil, apierrors.NewGenericServerResponse(http.StatusNotFound, "", schema.GroupResource{}, "", "", 0, false)
	}
	return res, nil
}

// EnsureSystemObjects creates the namespaces every cluster has (default,
// kube-system, kube-public, kube-node-lease), the system priority classes
// (system-cluster-critical, system-node-critical) and the default/kubernetes
// service when they are missing. It is
// idempotent and safe to run from several servers at once.
func (s *Server) EnsureSystemObjects(ctx context.Context) error {
	for _, ns := range systemNamespaces {
		if err := s.ensureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	if err := s.ensureSystemPriorityClasses(ctx); err != nil {
		return err
	}
	return s.ensureKubernetesService(ctx)
}
