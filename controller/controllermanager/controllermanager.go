package controllermanager

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/cronjob"
	"github.com/gantryhq/gantry/controller/daemonset"
	"github.com/gantryhq/gantry/controller/deployment"
	"github.com/gantryhq/gantry/controller/endpoints"
	"github.com/gantryhq/gantry/controller/garbagecollector"
	"github.com/gantryhq/gantry/controller/job"
	"github.com/gantryhq/gantry/controller/namespace"
	"github.com/gantryhq/gantry/controller/nodelifecycle"
	"github.com/gantryhq/gantry/controller/podgc"
	"github.com/gantryhq/gantry/controller/replicaset"
	"github.com/gantryhq/gantry/controller/resourcequota"
	"github.com/gantryhq/gantry/controller/serviceaccount"
	"github.com/gantryhq/gantry/controller/statefulset"
	"github.com/gantryhq/gantry/internal/restconfig"
)

// Ports of the health and metrics endpoint: kube-controller-manager's
// secure port today, and the insecure port the seeds describe.
const (
	DefaultPort  = 10257
	InsecurePort = 10252
)

// DefaultContentType is what the controllers' typed client speaks by
// default: protobuf, which costs both the API server and the controllers a
// fraction of JSON's encoding and decoding for the same objects (the built-in
// types all have it); responses fall back to JSON where protobuf is missing.
const DefaultContentType = runtime.ContentTypeProtobuf

// The controller manager's client-side rate limit when its configuration
// sets none: kube-controller-manager's --kube-api-qps and
// --kube-api-burst defaults. client-go's own (5 and 10) would make a
// ReplicaSet of 100 replicas take 20 seconds to create its pods.
const (
	DefaultQPS   = 20
	DefaultBurst = 30
)

// ClientConfig returns a copy of cfg set up as the controller manager's
// typed client: contentType ("" means DefaultContentType) for requests
// and responses, with JSON accepted too, the manager's user agent unless
// cfg names one, and DefaultQPS/DefaultBurst unless cfg sets a rate.
func ClientConfig(cfg *rest.Config, contentType string) *rest.Config {
	cfg = restconfig.WithDefaults(cfg, "gantry-controller-manager", DefaultQPS, DefaultBurst)
	if contentType == "" {
		contentType = DefaultContentType
	}
	cfg.ContentType = contentType
	if contentType != runtime.ContentTypeJSON {
		cfg.AcceptContentTypes = contentType + "," + runtime.ContentTypeJSON
	}
	return cfg
}

// Options configure a ControllerManager. Config or Kubeconfig is required.
type Options struct {
	// Config reaches the API server; if nil, Kubeconfig is loaded.
	Config     *rest.Config
	Kubeconfig string
	// Controllers as --controllers: nil means ["*"].
	Controllers []string
	// NodeLifecycle configures the node lifecycle controller; its Client,
	// informers and Clock are filled in.
	NodeLifecycle nodelifecycle.Options
	// PodGC configures the pod garbage collector likewise.
	PodGC podgc.Options
	// Leader election on LeaseNamespace/LeaseName (defaults
	// kube-system/gantry-controller-manager), see controller.ManagerOptions.
	LeaderElect                               bool
	LeaseName, LeaseNamespace, Identity       string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Address of /healthz and /metrics, e.g. fmt.Sprintf(":%d",
	// DefaultPort); empty means no listener (Handler still works).
	Address string
	// Clock is handed to every controller; nil means the real clock.
	Clock    clock.WithTicker
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// ResyncPeriod of the shared informers (0: none).
	ResyncPeriod time.Duration
	// ContentType the controllers' typed client sends and asks for, as
	// kube-controller-manager's --kube-api-content-type: empty means
	// DefaultContentType. The dynamic client (garbage collector, namespace
	// controller) always speaks JSON.
	ContentType string

	// ServiceAccountKey signs the tokens of token secrets
	// (--service-account-private-key-file); nil turns the token controller
	// off.
	ServiceAccountKey crypto.Signer
	// RootCA is the cluster CA bundle (--root-ca-file) that the token
	// controller writes into token secrets and the root CA publisher into
	// every namespace; empty turns both off.
	RootCA []byte
}

// ControllerManager runs the controllers. Create it with
// NewControllerManager and call Run once.
type ControllerManager struct {
	m *controller.Manager
}

// Register adds every controller of this module to m.
func Register(m *controller.Manager, nl nodelifecycle.Options, pg podgc.Options) error {
	for _, reg := range []func(*controller.Manager) error{
		replicaset.Register, deployment.Register, endpoints.Register, namespace.Register,
		serviceaccount.Register, garbagecollector.Register, job.Register, cronjob.Register, daemonset.Register, statefulset.Register,
		resourcequota.Register,
		func(m *controller.Manager) error { return nodelifecycle.Register(m, nl) },
		func(m *controller.Manager) error { return podgc.Register(m, pg) },
	} {
		if err := reg(m); err != nil {
			return err
		}
	}
	return nil
}

// NewControllerManager validates opts, builds the clients and registers
// every controller.
func NewControllerManager(opts Options) (*ControllerManager, error) {
	cfg := opts.Config
	if cfg == nil {
		if opts.Kubeconfig == "" {
			return nil, errors.New("controllermanager: Options.Config or Kubeconfig is required")
		}
		var err error
		if cfg, err = clientcmd.BuildConfigFromFlags("", opts.Kubeconfig); err != nil {
			return nil, fmt.Errorf("controllermanager: kubeconfig %q: %w", opts.Kubeconfig, err)
		}
	}
	typed := ClientConfig(cfg, opts.ContentType)
	cs, err := kubernetes.NewForConfig(typed)
	if err != nil {
		return nil, fmt.Errorf("controllermanager: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent, cfg.QPS, cfg.Burst = typed.UserAgent, typed.QPS, typed.Burst
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("controllermanager: %w", err)
	}
	m, err := controller.NewManager(controller.ManagerOptions{
		Client: cs, Dynamic: dyn, Clock: opts.Clock, ResyncPeriod: opts.ResyncPeriod, Controllers: opts.Controllers,
		Logger: opts.Logger, LeaderElect: opts.LeaderElect, LeaseName: opts.LeaseName, LeaseNamespace: opts.LeaseNamespace,
		Identity: opts.Identity, LeaseDuration: opts.LeaseDuration, RenewDeadline: opts.RenewDeadline, RetryPeriod: opts.RetryPeriod,
		Address: opts.Address, Registry: opts.Registry,
	})
	if err != nil {
		return nil, err
	}
	if err := Register(m, opts.NodeLifecycle, opts.PodGC); err != nil {
		return nil, err
	}
	if err := registerCredentials(m, opts.ServiceAccountKey, opts.RootCA); err != nil {
		return nil, err
	}
	return &ControllerManager{m: m}, nil
}

// Run blocks until ctx is done (nil), the lease is lost
// (controller.ErrLeadershipLost) or a controller fails.
func (c *ControllerManager) Run(ctx context.Context) error { return c.m.Start(ctx) }

// Manager is the underlying controller.Manager.
func (c *ControllerManager) Manager() *controller.Manager { return c.m }

// Handler serves /healthz, /livez, /readyz and /metrics.
func (c *ControllerManager) Handler() http.Handler { return c.m.Handler() }

// IsLeader reports whether the controllers are running here.
func (c *ControllerManager) IsLeader() bool { return c.m.IsLeader() }

// Addr is the bound health/metrics address (nil without Options.Address).
func (c *ControllerManager) Addr() net.Addr { return c.m.Addr() }
