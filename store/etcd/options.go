package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gantryhq/gantry/store"
)

// DefaultDialTimeout is the DialTimeout used when Options.DialTimeout is zero.
const DefaultDialTimeout = 5 * time.Second

// Options configure New. Exactly one of Endpoints and Client must be set.
type Options struct {
	// Endpoints are the client URLs of the etcd members, for example
	// "http://127.0.0.1:2379" or "https://10.0.0.1:2379" (kube-apiserver's
	// --etcd-servers). The Store creates its own client and closes it in Close.
	Endpoints []string

	// TLS is the client TLS configuration for an https cluster, with the
	// client certificate when the cluster requires one. See
	// TLSConfigFromFiles. Only used with Endpoints.
	TLS *tls.Config

	// DialTimeout bounds establishing the first connection; zero means
	// DefaultDialTimeout. Only used with Endpoints.
	DialTimeout time.Duration

	// Logger receives the etcd client's logs. nil means errors only, to
	// stderr. Only used with Endpoints.
	Logger *zap.Logger

	// Client wraps an existing client instead of creating one. The Store does
	// not close it: the caller owns it and must keep it open until the Store
	// is closed.
	Client *clientv3.Client

	// Prefix is prepended to every key in etcd, like kube-apiserver's
	// --etcd-prefix: with Prefix "/tenant-a", store key "/registry/pods/x"
	// is etcd key "/tenant-a/registry/pods/x". Keys returned by the Store
	// never carry it. Empty means none; otherwise it must be a valid store key
	// (absolute, no trailing "/").
	Prefix string

	// DisableLeaseReuse makes every write with a TTL grant its own lease.
	// By default writes with the same TTL (rounded to whole seconds) share a
	// lease for a while, as kube-apiserver does, so that many short-lived
	// keys (events) do not make as many leases: a key may then live up to 5%
	// of its TTL (at most one minute) longer. TTLs under 20s never share.
	DisableLeaseReuse bool
}

func (o *Options) validate() error {
	switch {
	case o.Client != nil && len(o.Endpoints) > 0:
		return errors.New("etcd: Options.Client and Options.Endpoints are mutually exclusive")
	case o.Client == nil && len(o.Endpoints) == 0:
		return errors.New("etcd: Options.Endpoints or Options.Client is required")
	case o.DialTimeout < 0:
		return fmt.Errorf("etcd: negative Options.DialTimeout %v", o.DialTimeout)
	}
	for _, ep := range o.Endpoints {
		if strings.TrimSpace(ep) == "" {
			return errors.New("etcd: empty endpoint in Options.Endpoints")
		}
	}
	if o.Prefix != "" {
		if err := store.ValidateKey(o.Prefix); err != nil {
			return fmt.Errorf("etcd: Options.Prefix: %w", err)
		}
	}
	return nil
}

// TLSConfigFromFiles builds a client TLS configuration from PEM files, the way
// kube-apiserver reads --etcd-cafile, --etcd-certfile and --etcd-keyfile.
// caFile may be empty to trust the system roots; certFile and keyFile must be
// both set (client certificate authentication) or both empty. The certificate
// is re-read on each handshake, so rotated files take effect on reconnect.
func TLSConfigFromFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("etcd: client certificate %q and key %q must be given together", certFile, keyFile)
	}
	info := transport.TLSInfo{
		CertFile:      certFile,
		KeyFile:       keyFile,
		TrustedCAFile: caFile,
		Logger:        zap.NewNop(),
	}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd: TLS files (ca %q, cert %q, key %q): %w", caFile, certFile, keyFile, err)
	}
	if caFile != "" {
		// ClientConfig accepts a file without any certificate in it.
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("etcd: CA file: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd: CA file %q holds no PEM certificate", caFile)
		}
	}
	return cfg, nil
}

// quietLogger is the client and server logger used when none is given:
// errors only, to stderr.
func quietLogger() *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	cfg.Sampling = nil
	cfg.DisableStacktrace = true
	lg, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return lg
}
