package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/defaulttolerationseconds"
	"github.com/gantryhq/gantry/controller/controllermanager"
	"github.com/gantryhq/gantry/controller/nodelifecycle"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
	"github.com/gantryhq/gantry/store"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
)

// DefaultSecurePort is the API server's usual HTTPS port (kube-apiserver's
// --secure-port default). MasterConfig.SecurePort 0 means a free port
// instead; the reference programs default to this one.
const DefaultSecurePort = 6443

// DefaultStartTimeout bounds how long a master waits for its store when it
// starts.
const DefaultStartTimeout = time.Minute

// MasterConfig configures a master. DataDir is required; the zero values
// of the others are usable defaults.
type MasterConfig struct {
	// DataDir holds all of the master's state: pki/ (certificates and
	// keys), etcd/ (the embedded etcd's data) and kubeconfig (the
	// administrator's). It is made, with mode 0700, when missing. One master
	// at a time may use it.
	DataDir string

	// BindAddress is the IP address the API server listens on; empty means
	// 127.0.0.1. 0.0.0.0 or :: listen on every interface.
	BindAddress string

	// SecurePort is the API server's HTTPS port; 0 lets the operating
	// system choose a free one (see Master.URL).
	SecurePort int

	// AdvertiseAddress is the IP address clients inside the cluster reach
	// the API server at (the endpoints of the default/kubernetes service);
	// it may not be a loopback address, which pods cannot reach. Empty
	// means BindAddress when it names one non-loopback address, otherwise
	// the host's first non-loopback IPv4 address; when the host has none,
	// the default/kubernetes service is not made.
	AdvertiseAddress string

	// CertSANs are more names (DNS names or IP addresses) for the API
	// server's certificate, besides the advertise and bind addresses, the
	// host name and the fixed in-cluster names.
	CertSANs []string

	// EtcdServers are the client URLs of an external etcd cluster
	// (kube-apiserver's --etcd-servers). Empty means an embedded etcd
	// member with its data under DataDir/etcd.
	EtcdServers []string

	// EtcdCAFile, EtcdCertFile and EtcdKeyFile secure the connection to
	// EtcdServers (kube-apiserver's --etcd-cafile, --etcd-certfile,
	// --etcd-keyfile). Certificate and key go together.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string

	// ServiceClusterIPRange is where service cluster IPs come from; the
	// zero value means apiserver.DefaultServiceClusterIPRange.
	ServiceClusterIPRange netip.Prefix

	// ServiceNodePortRange is where node ports come from; the zero value
	// means apiserver.DefaultServiceNodePortRange.
	ServiceNodePortRange apiserver.PortRange

	// DisableControllers runs the master without its controller manager.
	DisableControllers bool
	// NodeLifecycle tunes the node lifecycle controller
	// (NodeMonitorGracePeriod, PodEvictionTimeout, eviction rates...); its
	// clients are filled in.
	NodeLifecycle nodelifecycle.Options
	// Controllers selects the controllers like kube-controller-manager's
	// --controllers ("*", "-nodelifecycle", ...); nil means all.
	Controllers []string
	// ControllerManagerAddress is where the controller manager serves
	// /healthz and /metrics; empty means 127.0.0.1 on a free port.
	ControllerManagerAddress string

	// DisableScheduler runs the master without its scheduler.
	DisableScheduler bool
	// SchedulerAddress is where the scheduler serves /healthz and
	// /metrics; empty means 127.0.0.1 on a free port.
	SchedulerAddress string

	// TokenAuthFile is a static token file (kube-apiserver's
	// --token-auth-file: token,user,uid,"group1,group2" lines); its bearer
	// tokens authenticate besides client certificates. Optional.
	TokenAuthFile string

	// ServiceAccountIssuer is the "iss" of the service account tokens the
	// API server signs (--service-account-issuer); empty means
	// https://kubernetes.default.svc.cluster.local.
	ServiceAccountIssuer string
	// APIAudiences are the audiences the API server accepts tokens for
	// and gives tokens that name none (--api-audiences); empty means the
	// issuer.
	APIAudiences []string
	// ServiceAccountMaxTokenExpiration caps the lifetime of requested
	// service account tokens (--service-account-max-token-expiration); 0
	// means no cap.
	ServiceAccountMaxTokenExpiration time.Duration

	// EnableAdmissionPlugins turns on optional admission plugins
	// (--enable-admission-plugins): AlwaysPullImages. The others
	// (NamespaceLifecycle, LimitRanger, ServiceAccount, NodeRestriction,
	// Priority, DefaultTolerationSeconds, ResourceQuota) are always on;
	// naming them is allowed.
	EnableAdmissionPlugins []string
	// DefaultNotReadyTolerationSeconds and
	// DefaultUnreachableTolerationSeconds are how long pods created
	// without tolerations of the node.kubernetes.io/not-ready and
	// node.kubernetes.io/unreachable NoExecute taints tolerate them (the
	// DefaultTolerationSeconds admission plugin; kube-apiserver's
	// --default-not-ready-toleration-seconds and
	// --default-unreachable-toleration-seconds); nil means 300, negative
	// is an error.
	DefaultNotReadyTolerationSeconds    *int64
	DefaultUnreachableTolerationSeconds *int64

	// NodeNames get a client certificate each (system:node:<name>), for
	// node agents started with the master's PKI (NodeKubeconfig), and a
	// serving certificate for their node agent's API (NodeServingCert).
	NodeNames []string
	// NodeIPs are addresses of the nodes in NodeNames, by name, added to
	// their serving certificates (which always name the node); optional.
	NodeIPs map[string][]netip.Addr

	// StartTimeout bounds how long Run waits for the store before it
	// gives up; zero means DefaultStartTimeout.
	StartTimeout time.Duration

	// Logger receives the master's logs; nil means slog.Default(). The
	// embedded etcd's logs go to it only when it has debug enabled;
	// otherwise etcd reports errors alone, to standard error.
	Logger *slog.Logger
}

func (c *MasterConfig) setDefaults() error {
	if c.DataDir == "" {
		return errors.New("cluster: MasterConfig.DataDir is required")
	}
	if c.BindAddress == "" {
		c.BindAddress = "127.0.0.1"
	}
	bind, err := netip.ParseAddr(c.BindAddress)
	if err != nil {
		return fmt.Errorf("cluster: bind address %q is not an IP address", c.BindAddress)
	}
	if c.SecurePort < 0 || c.SecurePort > 65535 {
		return fmt.Errorf("cluster: secure port %d out of range", c.SecurePort)
	}
	if c.AdvertiseAddress == "" {
		if a, ok := defaultAdvertiseAddress(bind); ok {
			c.AdvertiseAddress = a.String()
		}
	} else if a, err := netip.ParseAddr(c.AdvertiseAddress); err != nil || a.IsUnspecified() || a.IsLoopback() {
		return fmt.Errorf("cluster: advertise address %q is not a usable IP address (not a loopback or unspecified one)", c.AdvertiseAddress)
	}
	for _, s := range c.CertSANs {
		if s == "" || strings.ContainsAny(s, " /") {
			return fmt.Errorf("cluster: invalid certificate name %q", s)
		}
	}
	for _, ep := range c.EtcdServers {
		if strings.TrimSpace(ep) == "" {
			return errors.New("cluster: empty etcd server URL")
		}
	}
	if len(c.EtcdServers) == 0 && (c.EtcdCAFile != "" || c.EtcdCertFile != "" || c.EtcdKeyFile != "") {
		return errors.New("cluster: etcd TLS files are given but no etcd servers: the embedded etcd needs none")
	}
	if (c.EtcdCertFile == "") != (c.EtcdKeyFile == "") {
		return errors.New("cluster: etcd client certificate and key go together")
	}
	if c.ServiceAccountMaxTokenExpiration < 0 {
		return fmt.Errorf("cluster: negative service account token expiration %v", c.ServiceAccountMaxTokenExpiration)
	}
	for _, a := range c.APIAudiences {
		if a == "" {
			return errors.New("cluster: empty API audience")
		}
	}
	for _, s := range []*int64{c.DefaultNotReadyTolerationSeconds, c.DefaultUnreachableTolerationSeconds} {
		if s != nil && *s < 0 {
			return fmt.Errorf("cluster: negative default toleration seconds %d", *s)
		}
	}
	for _, name := range c.EnableAdmissionPlugins {
		if !slices.Contains(AdmissionPlugins(), name) {
			return fmt.Errorf("cluster: unknown admission plugin %q (known: %s)", name, strings.Join(AdmissionPlugins(), ", "))
		}
	}
	if c.ServiceClusterIPRange.IsValid() && c.ServiceClusterIPRange.Addr().BitLen()-c.ServiceClusterIPRange.Bits() < 2 {
		return fmt.Errorf("cluster: service cluster IP range %s is too small", c.ServiceClusterIPRange)
	}
	for name, ips := range c.NodeIPs {
		if !slices.Contains(c.NodeNames, name) {
			return fmt.Errorf("cluster: NodeIPs names node %q, which is not in NodeNames", name)
		}
		for _, ip := range ips {
			if !ip.IsValid() || ip.IsUnspecified() {
				return fmt.Errorf("cluster: node %q: %q is not a usable IP address", name, ip)
			}
		}
	}
	if c.StartTimeout < 0 {
		return fmt.Errorf("cluster: negative StartTimeout %v", c.StartTimeout)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// defaultAdvertiseAddress is the bind address when it is one non-loopback
// address, else the host's first non-loopback IPv4 address, if any.
func defaultAdvertiseAddress(bind netip.Addr) (netip.Addr, bool) {
	if !bind.IsUnspecified() && !bind.IsLoopback() {
		return bind, true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Master is a control plane: PKI, store and API server. Create it with
// NewMaster and start it with Run. Its methods are safe for concurrent use.
type Master struct {
	cfg     MasterConfig
	started atomic.Bool
	ready   chan struct{}

	mu            sync.Mutex
	url           string
	etcdEndpoints []string
	pki           *pki.ClusterPKI

	controllers   atomic.Pointer[controllermanager.ControllerManager]
	schedulerAddr atomic.Value // string
}

// NewMaster validates cfg and returns a master that is not running yet.
func NewMaster(cfg MasterConfig) (*Master, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("cluster: data dir: %w", err)
	}
	cfg.DataDir = abs
	return &Master{cfg: cfg, ready: make(chan struct{})}, nil
}

// Config returns the configuration with defaults filled in (an absolute
// DataDir, the chosen advertise address).
func (m *Master) Config() MasterConfig { return m.cfg }

// Ready returns a channel closed once the API server serves and the admin
// kubeconfig is written. It is never closed if Run fails first.
func (m *Master) Ready() <-chan struct{} { return m.ready }

// URL returns the API server's URL, https://host:port, where host is the
// bind address (127.0.0.1 when binding every interface); empty until
// ready.
func (m *Master) URL() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.url
}

// AdminKubeconfig returns the path of the administrator's kubeconfig,
// <DataDir>/kubeconfig; the file is (re)written each start, before Ready.
func (m *Master) AdminKubeconfig() string { return filepath.Join(m.cfg.DataDir, "kubeconfig") }

// NodeKubeconfig returns the path of the kubeconfig of node agent name (one
// of MasterConfig.NodeNames), <DataDir>/nodes/<name>.kubeconfig: its own
// client certificate and the API server's address (the advertise address
// when it listens on every interface). The file
// is (re)written each start, before Ready; copy it to the node.
func (m *Master) NodeKubeconfig(name string) string {
	return filepath.Join(m.cfg.DataDir, "nodes", name+".kubeconfig")
}

// NodeServingCert returns the paths of the serving certificate and key of
// node agent name's API (one of MasterConfig.NodeNames),
// <DataDir>/nodes/<name>.crt and .key: valid for the node name (and its
// NodeIPs), signed by the cluster CA, which the API server checks them
// against when it proxies logs and exec to the node. They are (re)written
// each start, before Ready; copy them to the node with NodeClientCAFile
// (cluster.NodeConfig.TLSCertFile, TLSKeyFile and ClientCAFile; the
// node program's --tls-cert-file, --tls-private-key-file and
// --client-ca-file).
func (m *Master) NodeServingCert(name string) (certFile, keyFile string) {
	base := filepath.Join(m.cfg.DataDir, "nodes", name)
	return base + ".crt", base + ".key"
}

// NodeClientCAFile returns the path of the cluster CA certificate for node
// agents, <DataDir>/nodes/ca.crt: their APIs accept client certificates
// it signed (the API server's among them). Written like NodeServingCert.
func (m *Master) NodeClientCAFile() string { return filepath.Join(m.cfg.DataDir, "nodes", "ca.crt") }

// ProxyKubeconfig returns the path of the service proxies' kubeconfig
// (user system:kube-proxy), <DataDir>/kube-proxy.kubeconfig, written like
// NodeKubeconfig.
func (m *Master) ProxyKubeconfig() string {
	return filepath.Join(m.cfg.DataDir, "kube-proxy.kubeconfig")
}

// EtcdEndpoints returns the client URLs of the etcd the master uses: the
// embedded member's (its port changes from one start to the next) or
// MasterConfig.EtcdServers. Empty until ready.
func (m *Master) EtcdEndpoints() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.etcdEndpoints...)
}

// EmbeddedEtcd reports whether the master runs its own etcd member.
func (m *Master) EmbeddedEtcd() bool { return len(m.cfg.EtcdServers) == 0 }

// PKI returns the cluster's certificates and keys; nil until ready.
func (m *Master) PKI() *pki.ClusterPKI {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pki
}

// RESTConfig returns a client-go configuration for the administrator, as
// in the admin kubeconfig. It fails before the master is ready.
func (m *Master) RESTConfig() (*rest.Config, error) {
	m.mu.Lock()
	p, url := m.pki, m.url
	m.mu.Unlock()
	if p == nil || url == "" {
		return nil, errors.New("cluster: master is not ready")
	}
	return p.Kubeconfig(url, p.Admin).RESTConfig()
}

// startControllers starts the controller manager; its result arrives on
// done when it stops.
func (m *Master) startControllers(ctx context.Context, url string, p *pki.ClusterPKI, done chan<- error) error {
	cfg, err := p.Kubeconfig(url, p.ControllerManager).RESTConfig()
	if err != nil {
		return fmt.Errorf("cluster: controller manager: %w", err)
	}
	addr := m.cfg.ControllerManagerAddress
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cm, err := controllermanager.NewControllerManager(controllermanager.Options{
		Config: cfg, Controllers: m.cfg.Controllers, Address: addr, Logger: m.cfg.Logger, LeaderElect: true,
		NodeLifecycle: m.cfg.NodeLifecycle, ServiceAccountKey: p.ServiceAccountKey, RootCA: p.CA.CertPEM(),
	})
	if err != nil {
		return fmt.Errorf("cluster: controller manager: %w", err)
	}
	m.controllers.Store(cm)
	go func() { done <- cm.Run(ctx) }()
	return nil
}

// startScheduler starts the scheduler with the default profile; its result
// arrives on done when it stops.
func (m *Master) startScheduler(ctx context.Context, url string, p *pki.ClusterPKI, done chan<- error) error {
	cfg, err := p.Kubeconfig(url, p.Scheduler).RESTConfig()
	if err != nil {
		return fmt.Errorf("cluster: scheduler: %w", err)
	}
	cs, err := kubernetes.NewForConfig(scheduler.ClientConfig(cfg))
	if err != nil {
		return fmt.Errorf("cluster: scheduler: %w", err)
	}
	r, err := scheduler.NewRunner(scheduler.RunnerOptions{
		Client:         cs,
		Registry:       plugins.NewRegistry(),
		Profiles:       []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		LeaderElection: &scheduler.LeaderElection{},
	})
	if err != nil {
		return fmt.Errorf("cluster: scheduler: %w", err)
	}
	addr := m.cfg.SchedulerAddress
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cluster: scheduler: %w", err)
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	m.schedulerAddr.Store(l.Addr().String())
	go func() {
		err := r.Run(ctx)
		srv.Close()
		done <- err
	}()
	return nil
}

// schedulerHealthy is the componentstatuses check of the scheduler.
func (m *Master) schedulerHealthy(ctx context.Context) error {
	addr, _ := m.schedulerAddr.Load().(string)
	if addr == "" {
		return errors.New("not started")
	}
	return apiserver.HTTPCheck(nil, "http://"+addr+"/healthz")(ctx)
}

// controllerManagerHealthy is the componentstatuses check of the
// controller manager: its /healthz.
func (m *Master) controllerManagerHealthy(ctx context.Context) error {
	cm := m.controllers.Load()
	if cm == nil {
		return errors.New("not started")
	}
	addr := cm.Addr()
	if addr == nil {
		return errors.New("not serving yet")
	}
	return apiserver.HTTPCheck(nil, "http://"+addr.String()+"/healthz")(ctx)
}

// NodeRESTConfig returns a client-go configuration for node agent name (one
// of MasterConfig.NodeNames), with its own client certificate. It fails
// before the master is ready.
func (m *Master) NodeRESTConfig(name string) (*rest.Config, error) {
	m.mu.Lock()
	p, url := m.pki, m.url
	m.mu.Unlock()
	if p == nil || url == "" {
		return nil, errors.New("cluster: master is not ready")
	}
	cert, ok := p.Nodes[name]
	if !ok {
		return nil, fmt.Errorf("cluster: node %q is not in MasterConfig.NodeNames", name)
	}
	return p.Kubeconfig(url, cert).RESTConfig()
}

// Run starts the master and blocks until ctx is done, then shuts it down:
// the API server stops taking requests (open ones get a few seconds), the
// store is closed and an embedded etcd stopped last. It returns nil after
// a clean shutdown, also when ctx is done before the master was ready; an
// error when starting fails or a component stops on its own. Run may be
// called once.
func (m *Master) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("cluster: Master.Run called twice")
	}
	log := m.cfg.Logger
	if err := os.MkdirAll(m.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("cluster: data dir: %w", err)
	}
	unlock, err := lockDataDir(m.cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	listener, err := net.Listen("tcp", net.JoinHostPort(m.cfg.BindAddress, strconv.Itoa(m.cfg.SecurePort)))
	if err != nil {
		return fmt.Errorf("cluster: API server: %w", err)
	}
	defer listener.Close() // after Serve it is closed already
	port := listener.Addr().(*net.TCPAddr).Port

	p, err := pki.EnsureClusterPKI(filepath.Join(m.cfg.DataDir, "pki"), m.pkiOptions())
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}

	st, endpoints, etcdDone, closeStore, err := m.openStore(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	defer closeStore()

	var checks []apiserver.ComponentCheck
	if !m.cfg.DisableScheduler {
		checks = append(checks, apiserver.ComponentCheck{Name: "scheduler", Check: m.schedulerHealthy})
	}
	if !m.cfg.DisableControllers {
		checks = append(checks, apiserver.ComponentCheck{Name: "controller-manager", Check: m.controllerManagerHealthy})
	}
	authz, err := newAuthorization(st, log, true, defaulttolerationseconds.Options{
		NotReadySeconds: m.cfg.DefaultNotReadyTolerationSeconds, UnreachableSeconds: m.cfg.DefaultUnreachableTolerationSeconds,
	}, m.cfg.EnableAdmissionPlugins...)
	if err != nil {
		return err
	}
	apiOpts := apiserver.Options{
		ComponentChecks:       checks,
		Store:                 st,
		Logger:                log,
		Authorizer:            authz.authorizer,
		Admission:             authz.admission,
		ServiceClusterIPRange: m.cfg.ServiceClusterIPRange,
		ServiceNodePortRange:  m.cfg.ServiceNodePortRange,
		AdvertiseAddress:      m.cfg.AdvertiseAddress,
		AdvertisePort:         port,
	}
	if err := m.authenticate(&apiOpts, p); err != nil {
		return err
	}
	// The API server reaches node agents as kube-apiserver-kubelet-client
	// and checks their serving certificates against the cluster CA.
	nodeClientTLS, err := p.NodeClientTLSConfig()
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	apiOpts.NodeConnection = apiserver.TLSNodeConnection(nodeClientTLS)
	srv, err := apiserver.New(apiOpts)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	tlsConfig, err := p.ServerTLSConfig()
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout)
	err = srv.EnsureSystemObjects(startCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("cluster: store at %v not usable: %w", endpoints, err)
	}
	// The RBAC policy cache lists before the server serves; it stops
	// before the store closes.
	policyCtx, stopPolicy := context.WithCancel(ctx)
	waitPolicy, err := authz.start(policyCtx, m.cfg.StartTimeout)
	defer func() { stopPolicy(); waitPolicy() }()
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("cluster: RBAC policy: %w", err)
	}

	url := "https://" + net.JoinHostPort(clientHost(m.cfg.BindAddress), strconv.Itoa(port))
	if err := pki.WriteKubeconfig(m.AdminKubeconfig(), p.Kubeconfig(url, p.Admin)); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	// Nodes reach the API server where it listens: at the advertise
	// address when it listens on every interface.
	nodeURL := url
	if ip, err := netip.ParseAddr(m.cfg.BindAddress); err == nil && ip.IsUnspecified() && m.cfg.AdvertiseAddress != "" {
		nodeURL = "https://" + net.JoinHostPort(m.cfg.AdvertiseAddress, strconv.Itoa(port))
	}
	if err := m.writeNodeFiles(nodeURL, p); err != nil {
		return err
	}
	if err := pki.WriteKubeconfig(m.ProxyKubeconfig(), p.Kubeconfig(nodeURL, p.Proxy)); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}

	// Serve creates the system objects again before it accepts
	// connections: ready means it has got to accepting.
	accepting := &acceptNotifier{Listener: listener, accepting: make(chan struct{})}
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(serveCtx, accepting, tlsConfig) }()
	select {
	case <-accepting.accepting:
	case err := <-serveErr:
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return fmt.Errorf("cluster: API server: %w", err)
	case <-etcdDone:
		stopServe()
		<-serveErr
		return errors.New("cluster: embedded etcd stopped on its own")
	}

	// The bootstrap policy is in place before anyone but the
	// administrator is told the server is ready.
	if err := m.bootstrapPolicy(ctx, url, p, authz); err != nil {
		stopServe()
		<-serveErr
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}

	m.mu.Lock()
	m.url, m.etcdEndpoints, m.pki = url, endpoints, p
	m.mu.Unlock()
	close(m.ready)
	log.Info("master ready", "url", url, "etcd", endpoints, "kubeconfig", m.AdminKubeconfig())

	// The controller manager is a client like any other, with its own
	// certificate; it stops before the API server does.
	componentsCtx, cancelComponents := context.WithCancel(ctx)
	defer cancelComponents()
	componentErr := make(chan error, 2)
	components := 0
	if !m.cfg.DisableControllers {
		if err := m.startControllers(componentsCtx, url, p, componentErr); err != nil {
			stopServe()
			<-serveErr
			return err
		}
		components++
	}
	if !m.cfg.DisableScheduler {
		if err := m.startScheduler(componentsCtx, url, p, componentErr); err != nil {
			cancelComponents()
			for range components {
				<-componentErr
			}
			stopServe()
			<-serveErr
			return err
		}
		components++
	}

	// Wait for the end; a scheduler or controller manager that stops on
	// its own (lost its lease) is logged, the API server keeps serving.
	stopComponents := func() {
		cancelComponents()
		for ; components > 0; components-- {
			<-componentErr
		}
	}
	for ctx.Err() == nil {
		select {
		case err := <-componentErr:
			components--
			if err != nil && ctx.Err() == nil {
				log.Error("a master component stopped", "err", err)
			}
			continue
		case <-ctx.Done():
		case err := <-serveErr:
			stopComponents()
			if ctx.Err() != nil { // shut down with the rest
				if err != nil {
					return fmt.Errorf("cluster: API server shutdown: %w", err)
				}
				return nil
			}
			if err == nil {
				err = errors.New("no error reported")
			}
			return fmt.Errorf("cluster: API server stopped: %w", err)
		case <-etcdDone:
			stopComponents()
			stopServe()
			<-serveErr
			return errors.New("cluster: embedded etcd stopped on its own")
		}
	}
	stopComponents()

	// ctx is done: stop serving (the store and etcd stop in the defers).
	log.Info("master shutting down")
	stopServe()
	if err := <-serveErr; err != nil {
		return fmt.Errorf("cluster: API server shutdown: %w", err)
	}
	return nil
}

// writeNodeFiles writes what each node of NodeNames needs under
// <DataDir>/nodes: its kubeconfig, its agent's serving certificate and key,
// and the cluster CA certificate.
func (m *Master) writeNodeFiles(nodeURL string, p *pki.ClusterPKI) error {
	if len(m.cfg.NodeNames) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(m.cfg.DataDir, "nodes"), 0o700); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := pki.WriteCertFile(m.NodeClientCAFile(), p.CA.CertPEM()); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	for _, name := range m.cfg.NodeNames {
		if err := pki.WriteKubeconfig(m.NodeKubeconfig(name), p.Kubeconfig(nodeURL, p.Nodes[name])); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		// A copy, so that the files under pki/ keep their paths.
		serving := *p.NodeServing[name]
		if err := serving.WriteFiles(m.NodeServingCert(name)); err != nil {
			return fmt.Errorf("cluster: node %s: %w", name, err)
		}
	}
	return nil
}

// bootstrapPolicy applies the RBAC bootstrap policy as the administrator.
func (m *Master) bootstrapPolicy(ctx context.Context, url string, p *pki.ClusterPKI, authz *authorization) error {
	cfg, err := p.Kubeconfig(url, p.Admin).RESTConfig()
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	cfg.UserAgent = "gantry-apiserver-bootstrap"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout)
	defer cancel()
	return authz.bootstrap(ctx, cs)
}

// acceptNotifier closes accepting when Accept is first called.
type acceptNotifier struct {
	net.Listener
	once      sync.Once
	accepting chan struct{}
}

func (l *acceptNotifier) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.accepting) })
	return l.Listener.Accept()
}

// pkiOptions are the PKI options for the configuration: the serving
// certificate names the advertise and bind addresses and the host name.
func (m *Master) pkiOptions() pki.Options {
	opts := pki.Options{ServiceClusterIPRange: m.cfg.ServiceClusterIPRange, Logger: m.cfg.Logger, NodeNames: m.cfg.NodeNames}
	for name, ips := range m.cfg.NodeIPs {
		if opts.NodeIPs == nil {
			opts.NodeIPs = map[string][]net.IP{}
		}
		for _, ip := range ips {
			opts.NodeIPs[name] = append(opts.NodeIPs[name], net.IP(ip.Unmap().AsSlice()))
		}
	}
	addName := func(s string) {
		if ip := net.ParseIP(s); ip != nil {
			if !ip.IsUnspecified() {
				opts.APIServerIPs = append(opts.APIServerIPs, ip)
			}
			return
		}
		opts.APIServerDNSNames = append(opts.APIServerDNSNames, s)
	}
	if m.cfg.AdvertiseAddress != "" {
		addName(m.cfg.AdvertiseAddress)
	}
	addName(m.cfg.BindAddress)
	if host, err := os.Hostname(); err == nil && host != "" {
		addName(strings.ToLower(host))
	}
	for _, s := range m.cfg.CertSANs {
		addName(s)
	}
	return opts
}

// openStore connects to the external etcd or starts the embedded one. done
// is closed if the embedded member stops on its own (nil for an external
// cluster); closeStore closes the store, then stops etcd.
func (m *Master) openStore(ctx context.Context) (st store.Store, endpoints []string, done <-chan struct{}, closeStore func(), err error) {
	log := m.cfg.Logger
	// etcd logs a lot at info level: only a master logging debug gets it.
	debug := log.Enabled(ctx, slog.LevelDebug)
	if len(m.cfg.EtcdServers) > 0 {
		opts := etcdstore.Options{Endpoints: m.cfg.EtcdServers}
		if m.cfg.EtcdCAFile != "" || m.cfg.EtcdCertFile != "" {
			if opts.TLS, err = etcdstore.TLSConfigFromFiles(m.cfg.EtcdCAFile, m.cfg.EtcdCertFile, m.cfg.EtcdKeyFile); err != nil {
				return nil, nil, nil, nil, fmt.Errorf("cluster: %w", err)
			}
		}
		if debug {
			opts.Logger = etcdstore.ZapLogger(log.With("component", "etcd-client"))
		}
		s, err := etcdstore.New(opts)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("cluster: %w", err)
		}
		return s, m.cfg.EtcdServers, nil, func() { s.Close() }, nil
	}

	eopts := etcdstore.EmbeddedOptions{DataDir: filepath.Join(m.cfg.DataDir, "etcd")}
	if debug {
		eopts.Logger = etcdstore.ZapLogger(log.With("component", "etcd"))
	}
	startCtx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout)
	defer cancel()
	emb, err := etcdstore.StartEmbedded(startCtx, eopts)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("cluster: %w", err)
	}
	sopts := etcdstore.Options{}
	if debug {
		sopts.Logger = etcdstore.ZapLogger(log.With("component", "etcd-client"))
	}
	s, err := emb.NewStore(sopts)
	if err != nil {
		emb.Close()
		return nil, nil, nil, nil, fmt.Errorf("cluster: %w", err)
	}
	log.Info("embedded etcd started", "dataDir", emb.DataDir(), "endpoints", emb.Endpoints())
	closeStore = func() {
		s.Close()
		if err := emb.Close(); err != nil {
			log.Error("stopping embedded etcd", "err", err)
		}
	}
	return s, emb.Endpoints(), emb.Done(), closeStore, nil
}

// clientHost is the host clients on this machine use to reach a server
// bound to bind.
func clientHost(bind string) string {
	ip, err := netip.ParseAddr(bind)
	if err != nil || !ip.IsUnspecified() {
		return bind
	}
	if ip.Is6() {
		return "::1"
	}
	return "127.0.0.1"
}
