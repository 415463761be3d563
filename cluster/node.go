package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/client"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/authn"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/overlay"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/docker"
	"github.com/gantryhq/gantry/runtime/fake"
	"github.com/gantryhq/gantry/runtime/images"
)

// Runtime names a node's container runtime.
const (
	RuntimeDocker = "docker"
	RuntimeFake   = "fake"
)

// NodeConfig configures a node: its node agent and container runtime.
type NodeConfig struct {
	// Name is the node's name; empty means the host name.
	Name string
	// RESTConfig reaches the API server with the node's identity. Required.
	RESTConfig *rest.Config
	// Runtime is RuntimeDocker (the default) or RuntimeFake (in-memory
	// containers that run nothing: for simulation and tests).
	Runtime string
	// NodeIP is the node's InternalIP; it must be reachable from the
	// master (logs are fetched from the node agent there).
	NodeIP netip.Addr
	// ServeAddress is where the node agent's API listens; empty means
	// 0.0.0.0:10250.
	ServeAddress string
	// RootDir is where the node agent keeps pods' volumes (the kubelet's
	// --root-dir); empty means nodeagent.DefaultRootDir(Name).
	RootDir string
	// PodManifestPath is a directory of static pod manifests the node
	// agent runs (the kubelet's --pod-manifest-path); empty: none.
	PodManifestPath string
	// Labels and Taints are set on the Node when the agent registers it
	// (--node-labels, --register-with-taints).
	Labels map[string]string
	Taints []corev1.Taint
	// DisableRegistration (--register-node=false) leaves the Node to an
	// administrator: the agent waits until it exists.
	DisableRegistration bool
	// TLSCertFile and TLSKeyFile are the node agent API's serving
	// certificate and key (the kubelet's --tls-cert-file and
	// --tls-private-key-file; a master writes them for each of its
	// NodeNames, see Master.NodeServingCert). Both or neither; neither
	// means a self-signed certificate, which a master's API server does
	// not trust: it then cannot reach the node for logs and exec.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile or ClientCAData (PEM) are the CA certificates that
	// clients' certificates must chain to (the kubelet's
	// --client-ca-file): the cluster CA, which signed the API server's
	// client certificate towards nodes. Without them, the node agent's
	// API takes bearer tokens only.
	//
	// Every request to the API but /healthz is authenticated (by
	// certificate, or by bearer token, which the node checks with a
	// TokenReview) and authorized by a SubjectAccessReview, both asked of
	// the API server with RESTConfig; anonymous requests get 401.
	ClientCAFile string
	ClientCAData []byte
	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger

	// ProxyMode is the node's service proxy: ProxyIPTables, or ProxyNone
	// (the default: the host's rules are left alone).
	ProxyMode string
	// ClusterCIDR is the pod network; the proxy masquerades traffic to
	// cluster IPs from outside it. Optional.
	ClusterCIDR netip.Prefix
	// NodePortAddresses limit node ports to the node's addresses in these
	// ranges (--nodeport-addresses); empty means every local address.
	NodePortAddresses []netip.Prefix
	// ProxyRESTConfig is the proxy's identity (system:kube-proxy); nil
	// means RESTConfig.
	ProxyRESTConfig *rest.Config
	// ProxyServeAddress is where the proxy serves /healthz and /metrics
	// (kube-proxy uses :10256); empty means nowhere.
	ProxyServeAddress string

	// Overlay is the node's pod network (NewOverlay makes one): Run runs
	// it, and pods get their addresses from its subnet on its bridge. Nil
	// means the runtime's default network.
	Overlay overlay.Overlay
	// PodBridge is the overlay's bridge, which pods join;
	// overlay.DefaultBridge if empty.
	PodBridge string
}

// Node is a running node: a node agent and its runtime.
type Node struct {
	cfg NodeConfig
}

// NewNode validates cfg and returns a Node; Run starts it.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.RESTConfig == nil {
		return nil, errors.New("cluster: NodeConfig.RESTConfig is required")
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cluster: node name: %w", err)
		}
		cfg.Name = strings.ToLower(h)
	}
	switch cfg.Runtime {
	case "":
		cfg.Runtime = RuntimeDocker
	case RuntimeDocker, RuntimeFake:
	default:
		return nil, fmt.Errorf("cluster: runtime %q: want %s or %s", cfg.Runtime, RuntimeDocker, RuntimeFake)
	}
	if err := validProxyMode(cfg.ProxyMode); err != nil {
		return nil, err
	}
	if cfg.ProxyMode == "" {
		cfg.ProxyMode = ProxyNone
	}
	if cfg.PodBridge == "" {
		cfg.PodBridge = overlay.DefaultBridge
	}
	if cfg.ServeAddress == "" {
		cfg.ServeAddress = fmt.Sprintf("0.0.0.0:%d", nodeagent.DefaultPort)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("cluster: the node agent's TLS certificate and key files go together")
	}
	if cfg.ClientCAFile != "" && len(cfg.ClientCAData) > 0 {
		return nil, errors.New("cluster: ClientCAFile and ClientCAData are exclusive")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Node{cfg: cfg}, nil
}

// Config returns the node's configuration with defaults filled in.
func (n *Node) Config() NodeConfig { return n.cfg }

// ErrNoDocker says that the Docker daemon the node needs does not answer.
var ErrNoDocker = errors.New("no Docker daemon answers")

// Run connects the runtime (for Docker: checks the daemon and builds the
// local images the pods and sandboxes use) and runs the node agent, and the
// service proxy unless ProxyMode is ProxyNone, until ctx is done. The
// proxy's rules stay when it returns, so that services keep answering
// across a restart; CleanupProxy removes them.
func (n *Node) Run(ctx context.Context) error {
	proxier, err := newProxier(n.cfg)
	if err != nil {
		return fmt.Errorf("cluster: node %s: %w", n.cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var network runtime.NetworkConfig
	overlayErr := make(chan error, 1)
	if ov := n.cfg.Overlay; ov != nil {
		go func() {
			err := ov.Run(ctx)
			cancel() // a failed overlay stops the node
			overlayErr <- err
		}()
		select {
		case <-ov.Ready():
		case err := <-overlayErr:
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("cluster: node %s: overlay: %w", n.cfg.Name, err)
		}
		network = runtime.NetworkConfig{Bridge: n.cfg.PodBridge, Subnet: ov.Subnet()}
		n.cfg.Logger.InfoContext(ctx, "overlay ready", "subnet", ov.Subnet(), "mtu", ov.MTU(), "bridge", n.cfg.PodBridge)
	} else {
		overlayErr <- nil
	}
	rt, closeRuntime, err := n.runtime(ctx)
	if err != nil {
		cancel()
		return errors.Join(err, <-overlayErr)
	}
	defer closeRuntime()
	cs, err := kubernetes.NewForConfig(nodeagent.ClientConfig(n.cfg.RESTConfig))
	if err != nil {
		return fmt.Errorf("cluster: node %s: %w", n.cfg.Name, err)
	}
	tlsConfig, authenticator, authorizer, err := n.apiSecurity(cs)
	if err != nil {
		cancel()
		return errors.Join(err, <-overlayErr)
	}
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: n.cfg.Name, Client: cs, Runtime: rt, NodeIP: n.cfg.NodeIP,
		ServeAddress: n.cfg.ServeAddress, Logger: n.cfg.Logger, RootDir: n.cfg.RootDir,
		PodManifestPath: n.cfg.PodManifestPath,
		Labels:          n.cfg.Labels, Taints: n.cfg.Taints, DisableRegistration: n.cfg.DisableRegistration,
		TLSConfig: tlsConfig, Authenticator: authenticator, Authorizer: authorizer,
		SyncInterval: 2 * time.Second, Network: network,
	})
	if err != nil {
		cancel()
		return errors.Join(err, <-overlayErr)
	}
	proxyErr := make(chan error, 1)
	if proxier != nil {
		go func() {
			err := n.runProxy(ctx, proxier)
			cancel() // a failed proxy stops the node
			proxyErr <- err
		}()
	} else {
		proxyErr <- nil
	}
	err = agent.Run(ctx)
	cancel()
	return errors.Join(err, <-proxyErr, <-overlayErr)
}

// apiSecurity is the node agent API's serving TLS configuration (nil:
// self-signed), authenticator and authorizer, from the configuration.
func (n *Node) apiSecurity(cs kubernetes.Interface) (*tls.Config, apiserver.Authenticator, apiserver.Authorizer, error) {
	fail := func(err error) (*tls.Config, apiserver.Authenticator, apiserver.Authorizer, error) {
		return nil, nil, nil, fmt.Errorf("cluster: node %s: node agent API: %w", n.cfg.Name, err)
	}
	var clientCAs *x509.CertPool
	caPEM, caSource := n.cfg.ClientCAData, "ClientCAData"
	if n.cfg.ClientCAFile != "" {
		data, err := os.ReadFile(n.cfg.ClientCAFile)
		if err != nil {
			return fail(fmt.Errorf("client CA: %w", err))
		}
		caPEM, caSource = data, n.cfg.ClientCAFile
	}
	if len(caPEM) > 0 {
		clientCAs = x509.NewCertPool()
		if !clientCAs.AppendCertsFromPEM(caPEM) {
			return fail(fmt.Errorf("client CA %s: no PEM certificate", caSource))
		}
	}
	var tlsConfig *tls.Config
	if n.cfg.TLSCertFile != "" {
		cert, err := pki.LoadCertificate(n.cfg.TLSCertFile, n.cfg.TLSKeyFile)
		if err != nil {
			return fail(err)
		}
		if tlsConfig, err = pki.ServerTLSConfig(cert, clientCAs); err != nil {
			return fail(err)
		}
	}
	tokens, err := nodeagent.NewTokenReviewAuthenticator(nodeagent.TokenReviewOptions{Client: cs})
	if err != nil {
		return fail(err)
	}
	authenticator := apiserver.Authenticator(tokens)
	if clientCAs != nil {
		authenticator = authn.Union(pki.NewCertAuthenticator(clientCAs), tokens)
	}
	authorizer, err := nodeagent.NewSubjectAccessReviewAuthorizer(nodeagent.SubjectAccessReviewOptions{Client: cs})
	if err != nil {
		return fail(err)
	}
	return tlsConfig, authenticator, authorizer, nil
}

func (n *Node) runtime(ctx context.Context) (runtime.Runtime, func(), error) {
	if n.cfg.Runtime == RuntimeFake {
		rt, err := fake.New(fake.Options{})
		return rt, func() {}, err
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: %w: %v", ErrNoDocker, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		cli.Close()
		return nil, nil, fmt.Errorf("cluster: %w (%v): start it (as root: dockerd &, or ./hack/test, which installs and starts it) or run with --runtime fake", ErrNoDocker, err)
	}
	buildCtx, cancelBuild := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelBuild()
	n.cfg.Logger.InfoContext(ctx, "building the local images", "images", strings.Join(images.All, " "))
	if err := images.Build(buildCtx, cli); err != nil {
		cli.Close()
		return nil, nil, fmt.Errorf("cluster: building the local images: %w", err)
	}
	rt, err := docker.New(docker.Options{Client: cli, NodeName: n.cfg.Name})
	if err != nil {
		cli.Close()
		return nil, nil, err
	}
	return rt, func() { cli.Close() }, nil
}
