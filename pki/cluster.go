package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gantryhq/gantry/apiserver"
)

// User names and groups of the cluster's certificates, as Kubernetes names
// them (its RBAC bootstrap policy binds roles to these).
const (
	AdminUser             = "admin"
	MastersGroup          = "system:masters"
	SchedulerUser         = "system:kube-scheduler"
	ControllerManagerUser = "system:kube-controller-manager"
	ProxyUser             = "system:kube-proxy"
	NodeUserPrefix        = "system:node:"
	NodesGroup            = "system:nodes"
	// APIServerKubeletClientUser is the API server's identity towards
	// node agents (kubeadm's apiserver-kubelet-client), when it proxies
	// logs and exec to them.
	APIServerKubeletClientUser = "kube-apiserver-kubelet-client"
)

// DefaultClusterDomain is the cluster's DNS domain when Options.ClusterDomain
// is empty.
const DefaultClusterDomain = "cluster.local"

// Options configure EnsureClusterPKI. The zero value is valid.
type Options struct {
	// KeyAlgorithm of the keys made: CA, certificates and the
	// service-account key. Existing keys are kept whatever their kind.
	KeyAlgorithm KeyAlgorithm

	// APIServerDNSNames and APIServerIPs are the names the API server is
	// reached by, besides the ones always in its certificate: localhost,
	// 127.0.0.1, kubernetes, kubernetes.default, kubernetes.default.svc,
	// kubernetes.default.svc.<ClusterDomain> and the first IP of
	// ServiceClusterIPRange (the kubernetes service).
	APIServerDNSNames []string
	APIServerIPs      []net.IP

	// ServiceClusterIPRange is the service IP range; the zero value means
	// apiserver.DefaultServiceClusterIPRange.
	ServiceClusterIPRange netip.Prefix

	// ClusterDomain is the cluster's DNS domain; empty means
	// DefaultClusterDomain.
	ClusterDomain string

	// NodeNames get a client certificate each (system:node:<name> in
	// system:nodes) and a serving certificate for their node agent's API
	// (see NodeServingCertRequest). Certificates of nodes not listed are
	// left alone.
	NodeNames []string

	// NodeIPs are the addresses of node agents, by node name, put in
	// their serving certificates besides the node's name; optional.
	NodeIPs map[string][]net.IP

	// CAValidity is the validity of a new CA (default DefaultCAValidity),
	// CertValidity of new certificates (default DefaultCertValidity).
	CAValidity, CertValidity time.Duration

	// RenewBefore: a certificate expiring within this time is issued again.
	// Zero means a tenth of CertValidity, at most 30 days. It must be less
	// than CertValidity.
	RenewBefore time.Duration

	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// Logger gets a line for each file made or certificate issued again;
	// nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	if err := o.KeyAlgorithm.validate(); err != nil {
		return err
	}
	if o.CAValidity < 0 || o.CertValidity < 0 || o.RenewBefore < 0 {
		return fmt.Errorf("pki: negative validity or RenewBefore")
	}
	if o.CertValidity == 0 {
		o.CertValidity = DefaultCertValidity
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = min(o.CertValidity/10, 30*24*time.Hour)
	}
	if o.RenewBefore >= o.CertValidity {
		return fmt.Errorf("pki: RenewBefore %v is not less than CertValidity %v", o.RenewBefore, o.CertValidity)
	}
	if !o.ServiceClusterIPRange.IsValid() {
		o.ServiceClusterIPRange = apiserver.DefaultServiceClusterIPRange
	}
	o.ServiceClusterIPRange = o.ServiceClusterIPRange.Masked()
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	for _, n := range o.NodeNames {
		if n == "" || strings.ContainsAny(n, "/\\") || n == "." || n == ".." {
			return fmt.Errorf("pki: invalid node name %q", n)
		}
	}
	for n := range o.NodeIPs {
		if !slices.Contains(o.NodeNames, n) {
			return fmt.Errorf("pki: NodeIPs names node %q, which is not in NodeNames", n)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// ClusterPKI is the cluster's CA, certificates and keys, as kept in Dir.
type ClusterPKI struct {
	// Dir holds the files.
	Dir string
	// CA signed every certificate below.
	CA *CA
	// APIServer is the API server's serving certificate.
	APIServer *Certificate
	// Client certificates.
	Admin, Scheduler, ControllerManager, Proxy *Certificate
	// APIServerKubeletClient is the API server's client certificate
	// towards node agents (APIServerKubeletClientUser).
	APIServerKubeletClient *Certificate
	// Nodes has the client certificate of each of Options.NodeNames,
	// NodeServing the serving certificate of its node agent.
	Nodes, NodeServing map[string]*Certificate
	// ServiceAccountKey signs service-account tokens;
	// ServiceAccountKeyFile and ServiceAccountPublicKeyFile (sa.key, sa.pub)
	// keep it.
	ServiceAccountKey                                  crypto.Signer
	ServiceAccountKeyFile, ServiceAccountPublicKeyFile string
	// Issued names the certificate files made or issued again by this call
	// (base names such as "apiserver.crt"), in order.
	Issued []string
}

// EnsureClusterPKI makes or reuses the cluster's CA, certificates and keys
// in dir (see the package documentation for the files and the rules of
// reuse). It is idempotent; it is not safe to run concurrently on the same
// dir.
func EnsureClusterPKI(dir string, opts Options) (*ClusterPKI, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ca, err := LoadOrCreateCA(dir, CAOptions{KeyAlgorithm: opts.KeyAlgorithm, Validity: opts.CAValidity, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	e := &ensurer{dir: dir, ca: ca, opts: opts}
	p := &ClusterPKI{Dir: dir, CA: ca, Nodes: map[string]*Certificate{}, NodeServing: map[string]*Certificate{}}

	if p.APIServer, err = e.cert("apiserver", e.apiServerRequest()); err != nil {
		return nil, err
	}
	clients := []struct {
		dst  **Certificate
		name string
		cn   string
		orgs []string
	}{
		{&p.Admin, "admin", AdminUser, []string{MastersGroup}},
		{&p.Scheduler, "scheduler", SchedulerUser, nil},
		{&p.ControllerManager, "controller-manager", ControllerManagerUser, nil},
		{&p.Proxy, "kube-proxy", ProxyUser, nil},
		{&p.APIServerKubeletClient, "apiserver-kubelet-client", APIServerKubeletClientUser, nil},
	}
	for _, c := range clients {
		if *c.dst, err = e.cert(c.name, CertRequest{CommonName: c.cn, Organization: c.orgs, Usage: ClientAuth}); err != nil {
			return nil, err
		}
	}
	for _, n := range opts.NodeNames {
		if p.Nodes[n], err = e.cert("node-"+n, NodeCertRequest(n)); err != nil {
			return nil, err
		}
		if p.NodeServing[n], err = e.cert("serving-node-"+n, NodeServingCertRequest(n, opts.NodeIPs[n])); err != nil {
			return nil, err
		}
	}
	if err := e.serviceAccountKey(p); err != nil {
		return nil, err
	}
	p.Issued = e.issued
	return p, nil
}

// NodeCertRequest is the client certificate of a node agent.
func NodeCertRequest(nodeName string) CertRequest {
	return CertRequest{CommonName: NodeUserPrefix + nodeName, Organization: []string{NodesGroup}, Usage: ClientAuth}
}

// NodeServingCertRequest is the serving certificate of a node agent's API:
// the subject of the node's identity, as a kubelet's serving certificate
// has, valid for the node name and the given addresses. The API server
// checks it against the node name when it proxies to the agent.
func NodeServingCertRequest(nodeName string, ips []net.IP) CertRequest {
	var addrs []net.IP
	for _, ip := range ips {
		if ip != nil && !slices.ContainsFunc(addrs, ip.Equal) {
			addrs = append(addrs, ip)
		}
	}
	return CertRequest{
		CommonName: NodeUserPrefix + nodeName, Organization: []string{NodesGroup},
		DNSNames: []string{nodeName}, IPAddresses: addrs, Usage: ServerAuth,
	}
}

// APIServerSANs returns the names of the API server's serving certificate
// for the options: the given ones plus the fixed ones (see Options).
func APIServerSANs(opts Options) (dnsNames []string, ips []net.IP, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, nil, err
	}
	e := &ensurer{opts: opts}
	req := e.apiServerRequest()
	return req.DNSNames, req.IPAddresses, nil
}

func (e *ensurer) apiServerRequest() CertRequest {
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + e.opts.ClusterDomain}
	for _, d := range e.opts.APIServerDNSNames {
		if !slices.Contains(dns, d) {
			dns = append(dns, d)
		}
	}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.IP(e.opts.ServiceClusterIPRange.Addr().Next().AsSlice())}
	for _, ip := range e.opts.APIServerIPs {
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	return CertRequest{CommonName: "kube-apiserver", DNSNames: dns, IPAddresses: ips, Usage: ServerAuth}
}

// ensurer makes or checks the files of one EnsureClusterPKI call.
type ensurer struct {
	dir    string
	ca     *CA
	opts   Options
	issued []string
}

// cert returns the certificate <name>.crt/<name>.key, issued for req: the
// existing one when it is usable and still matches req, else a new one for
// the existing key (or a new key when there is none).
func (e *ensurer) cert(name string, req CertRequest) (*Certificate, error) {
	certFile, keyFile := filepath.Join(e.dir, name+".crt"), filepath.Join(e.dir, name+".key")
	req.Validity = e.opts.CertValidity
	haveCert, err := exists(certFile)
	if err != nil {
		return nil, err
	}
	haveKey, err := exists(keyFile)
	if err != nil {
		return nil, err
	}
	var reason string
	switch {
	case haveCert && !haveKey:
		return nil, fmt.Errorf("%w: %s exists without its key %s (remove it to have a new pair made)", ErrBadFile, certFile, keyFile)
	case !haveCert && !haveKey:
		reason = "new"
	case !haveCert:
		// A key without its certificate: a run stopped between writing
		// the two. Certify the key.
		if req.Key, err = loadKey(keyFile); err != nil {
			return nil, err
		}
		reason = "certificate missing for existing key"
	default:
		c, err := LoadCertificate(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		if !e.ca.signedBy(c.Cert) {
			return nil, fmt.Errorf("%w: %s was not signed by the CA %s (remove it to have a new one issued)", ErrBadFile, certFile, e.ca.certFile)
		}
		if reason = e.staleReason(c.Cert, req); reason == "" {
			return c, nil
		}
		req.Key = c.Key
	}
	c, err := e.ca.Issue(req)
	if err != nil {
		return nil, err
	}
	if req.Key != nil {
		c.KeyFile = keyFile
		if err := writeFile(certFile, c.CertPEM, 0o644); err != nil {
			return nil, err
		}
		c.CertFile = certFile
	} else if err := c.WriteFiles(certFile, keyFile); err != nil {
		return nil, err
	}
	e.issued = append(e.issued, filepath.Base(certFile))
	e.opts.Logger.Info("pki: issued certificate", "file", certFile, "subject", req.CommonName, "reason", reason, "notAfter", c.Cert.NotAfter)
	return c, nil
}

// staleReason says why cert must be issued again for req, or "" when it is
// good.
func (e *ensurer) staleReason(cert *x509.Certificate, req CertRequest) string {
	now := e.opts.Now()
	switch {
	case now.After(cert.NotAfter):
		return "expired"
	case now.Add(e.opts.RenewBefore).After(cert.NotAfter):
		return "expires soon"
	case now.Before(cert.NotBefore):
		return "not valid yet"
	case cert.Subject.CommonName != req.CommonName || !sameStrings(cert.Subject.Organization, req.Organization):
		return "subject changed"
	case !sameStrings(cert.DNSNames, req.DNSNames) || !sameIPs(cert.IPAddresses, req.IPAddresses):
		return "names (SANs) changed"
	case !slices.Equal(sortedUsages(cert.ExtKeyUsage), sortedUsages(req.Usage.extKeyUsages())):
		return "usage changed"
	}
	return ""
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func sameIPs(a, b []net.IP) bool {
	str := func(ips []net.IP) []string {
		out := make([]string, len(ips))
		for i, ip := range ips {
			out[i] = ip.String()
		}
		return out
	}
	return sameStrings(str(a), str(b))
}

func sortedUsages(u []x509.ExtKeyUsage) []x509.ExtKeyUsage {
	u = slices.Clone(u)
	slices.Sort(u)
	return u
}

// serviceAccountKey makes or checks sa.key and sa.pub.
func (e *ensurer) serviceAccountKey(p *ClusterPKI) error {
	keyFile, pubFile := filepath.Join(e.dir, "sa.key"), filepath.Join(e.dir, "sa.pub")
	p.ServiceAccountKeyFile, p.ServiceAccountPublicKeyFile = keyFile, pubFile
	haveKey, err := exists(keyFile)
	if err != nil {
		return err
	}
	havePub, err := exists(pubFile)
	if err != nil {
		return err
	}
	if havePub && !haveKey {
		return fmt.Errorf("%w: %s exists without its private key %s (remove it to have a new pair made)", ErrBadFile, pubFile, keyFile)
	}
	var key crypto.Signer
	if haveKey {
		if key, err = loadKey(keyFile); err != nil {
			return err
		}
	} else {
		if key, err = NewKey(e.opts.KeyAlgorithm); err != nil {
			return fmt.Errorf("pki: service-account key: %w", err)
		}
		keyPEM, err := EncodeKey(key)
		if err != nil {
			return err
		}
		if err := writeFile(keyFile, keyPEM, keyMode); err != nil {
			return err
		}
		e.opts.Logger.Info("pki: made service-account signing key", "file", keyFile)
	}
	p.ServiceAccountKey = key
	if havePub {
		data, err := os.ReadFile(pubFile)
		if err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		pub, err := ParsePublicKey(data)
		if err != nil {
			return fmt.Errorf("%w: %s: %v (%s)", ErrBadFile, pubFile, err, removeHint)
		}
		if !samePublicKey(key, pub) {
			return fmt.Errorf("%w: %s is not the public half of %s (remove %s to have it written again)", ErrBadFile, pubFile, keyFile, pubFile)
		}
		return nil
	}
	pubPEM, err := EncodePublicKey(key.Public())
	if err != nil {
		return err
	}
	return writeFile(pubFile, pubPEM, 0o644)
}

// ServerTLSConfig returns the API server's TLS configuration: its serving
// certificate, and client certificates requested with the cluster CA as the
// hint (see the package ServerTLSConfig).
func (p *ClusterPKI) ServerTLSConfig() (*tls.Config, error) {
	return ServerTLSConfig(p.APIServer, p.CA.Pool())
}

// NodeClientTLSConfig returns the TLS configuration of the API server as a
// client of node agents: its APIServerKubeletClient certificate, and the
// cluster CA as the roots that node agents' serving certificates must
// chain to. TLS 1.2 at least.
func (p *ClusterPKI) NodeClientTLSConfig() (*tls.Config, error) {
	if p.APIServerKubeletClient == nil {
		return nil, errors.New("pki: no API server kubelet client certificate")
	}
	tc, err := p.APIServerKubeletClient.TLSCertificate()
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{tc}, RootCAs: p.CA.Pool()}, nil
}

// Authenticator returns a client-certificate authenticator trusting the
// cluster CA.
func (p *ClusterPKI) Authenticator() *CertAuthenticator {
	return NewCertAuthenticator(p.CA.Pool())
}

// Kubeconfig returns the kubeconfig of a client with certificate c (one of
// p's) talking to the API server at server (https://host:port).
func (p *ClusterPKI) Kubeconfig(server string, c *Certificate) Kubeconfig {
	return Kubeconfig{
		Server:     server,
		CA:         p.CA.CertPEM(),
		ClientCert: c.CertPEM,
		ClientKey:  c.KeyPEM,
		User:       c.Cert.Subject.CommonName,
	}
}
