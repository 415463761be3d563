package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ErrServerStopped is what Embedded.Err returns when the server stopped
// without Close being called.
var ErrServerStopped = errors.New("etcd: embedded server stopped")

// EmbeddedOptions configure StartEmbedded.
type EmbeddedOptions struct {
	// DataDir holds the member's write-ahead log and database. A server
	// started again on the same DataDir has all the data it had. Required
	// unless TempDir is set.
	DataDir string

	// TempDir, when DataDir is empty, puts the data in a fresh temporary
	// directory that Close removes. For tests and throw-away clusters.
	TempDir bool

	// Name is the member name; default "default".
	Name string

	// Host is the IP address the client and peer listeners bind;
	// default 127.0.0.1.
	Host string

	// ClientPort and PeerPort are the ports to listen on; 0 lets the
	// operating system choose a free one (the default), which may differ
	// from one start to the next: ask Endpoints.
	ClientPort, PeerPort int

	// TickInterval is the raft heartbeat interval (default 100ms) and
	// ElectionTimeout the raft election timeout (default 1s, at least five
	// ticks). FastTicks sets 10ms and 100ms when they are zero, so that a
	// test server elects itself in a fraction of a second.
	TickInterval, ElectionTimeout time.Duration
	FastTicks                     bool

	// QuotaBackendBytes caps the size of the database; 0 means etcd's
	// default (2 GiB). Writes fail with "database space exceeded" beyond it.
	QuotaBackendBytes int64

	// AutoCompactionRetention, when positive, makes the server compact
	// periodically, keeping this much history. Zero (the default) leaves
	// compaction to the caller (Store.Compact), as kube-apiserver does.
	AutoCompactionRetention time.Duration

	// UnsafeNoFsync skips fsync: faster, but a machine crash may lose or
	// corrupt data. For tests only.
	UnsafeNoFsync bool

	// Logger receives the server's logs. nil means errors only, to stderr.
	Logger *zap.Logger
}

func (o *EmbeddedOptions) validate() error {
	switch {
	case o.DataDir == "" && !o.TempDir:
		return errors.New("etcd: EmbeddedOptions.DataDir is required (or set TempDir)")
	case o.ClientPort < 0 || o.ClientPort > 65535 || o.PeerPort < 0 || o.PeerPort > 65535:
		return fmt.Errorf("etcd: invalid ports %d/%d", o.ClientPort, o.PeerPort)
	case o.ClientPort != 0 && o.ClientPort == o.PeerPort:
		return fmt.Errorf("etcd: client and peer port are both %d", o.ClientPort)
	case o.TickInterval < 0 || o.ElectionTimeout < 0:
		return errors.New("etcd: negative TickInterval or ElectionTimeout")
	case o.QuotaBackendBytes < 0:
		return fmt.Errorf("etcd: negative QuotaBackendBytes %d", o.QuotaBackendBytes)
	case o.AutoCompactionRetention < 0:
		return fmt.Errorf("etcd: negative AutoCompactionRetention %v", o.AutoCompactionRetention)
	}
	if o.Host != "" && net.ParseIP(o.Host) == nil {
		return fmt.Errorf("etcd: EmbeddedOptions.Host %q is not an IP address", o.Host)
	}
	return nil
}

// Embedded is an etcd server running in this process. Its methods are safe
// for concurrent use.
type Embedded struct {
	etcd      *embed.Etcd
	endpoints []string
	dataDir   string
	removeDir bool

	mu      sync.Mutex
	err     error         // first serving error
	closing bool          // Close has been called
	monitor chan struct{} // closed when the error monitor has finished

	closingLog atomic.Bool // Close has been called: drop shutdown noise

	closeOnce sync.Once
	closeErr  error
}

// quietCore drops the error-level messages an embedded server logs in
// normal operation: its listeners failing as Close shuts them, and a storage
// version check that fails harmlessly on a fresh data dir.
type quietCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func (c *quietCore) With(fields []zapcore.Field) zapcore.Core {
	return &quietCore{Core: c.Core.With(fields), closing: c.closing}
}

func (c *quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	switch {
	case e.Message == "failed to update storage version":
		return ce
	case c.closing.Load() && strings.HasPrefix(e.Message, "setting up serving from embedded etcd failed"):
		return ce
	}
	return c.Core.Check(e, ce)
}

// bindAttempts bounds the retries when a port chosen as free was taken by
// someone else before the server could bind it.
const bindAttempts = 5

// StartEmbedded starts an etcd server and waits until it serves clients, or
// until ctx is done. On error nothing is left running.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions) (*Embedded, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m := &Embedded{dataDir: opts.DataDir, monitor: make(chan struct{})}
	if opts.Logger == nil {
		opts.Logger = zap.New(&quietCore{Core: quietLogger().Core(), closing: &m.closingLog})
	}
	if m.dataDir == "" {
		dir, err := os.MkdirTemp("", "gantry-etcd-")
		if err != nil {
			return nil, fmt.Errorf("etcd: temporary data dir: %w", err)
		}
		m.dataDir, m.removeDir = dir, true
	}
	fail := func(err error) (*Embedded, error) {
		if m.removeDir {
			os.RemoveAll(m.dataDir)
		}
		return nil, err
	}

	var e *embed.Etcd
	for attempt := 1; ; attempt++ {
		cfg, err := embedConfig(opts, m.dataDir)
		if err != nil {
			return fail(err)
		}
		e, err = embed.StartEtcd(cfg)
		if err == nil {
			m.endpoints = []string{cfg.AdvertiseClientUrls[0].String()}
			break
		}
		freePorts := opts.ClientPort == 0 || opts.PeerPort == 0
		if !freePorts || !isAddrInUse(err) || attempt == bindAttempts {
			return fail(fmt.Errorf("etcd: start embedded server in %s: %w", m.dataDir, err))
		}
	}
	m.etcd = e

	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fail(fmt.Errorf("etcd: embedded server in %s: %w", m.dataDir, err))
	case <-e.Server.StopNotify():
		e.Close()
		return fail(fmt.Errorf("etcd: embedded server in %s stopped while starting", m.dataDir))
	case <-ctx.Done():
		e.Close()
		return fail(fmt.Errorf("etcd: waiting for embedded server in %s: %w", m.dataDir, ctx.Err()))
	}

	go m.watchErrors()
	return m, nil
}

// embedConfig builds the server configuration, choosing free ports where
// none are given.
func embedConfig(opts EmbeddedOptions, dataDir string) (*embed.Config, error) {
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	clientPort, peerPort := opts.ClientPort, opts.PeerPort
	var err error
	if clientPort == 0 {
		if clientPort, err = freePort(host, peerPort); err != nil {
			return nil, err
		}
	}
	if peerPort == 0 {
		if peerPort, err = freePort(host, clientPort); err != nil {
			return nil, err
		}
	}
	clientURL := url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(clientPort))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(peerPort))}

	cfg := embed.NewConfig()
	if opts.Name != "" {
		cfg.Name = opts.Name
	}
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Every embedded server is its own cluster: a unique token keeps a
	// stray member of another test from joining it.
	cfg.InitialClusterToken = "gantry-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(peerPort)

	tick, election := opts.TickInterval, opts.ElectionTimeout
	if opts.FastTicks {
		if tick == 0 {
			tick = 10 * time.Millisecond
		}
		if election == 0 {
			election = 100 * time.Millisecond
		}
	}
	if tick > 0 {
		cfg.TickMs = uint(tick.Milliseconds())
	}
	if election > 0 {
		cfg.ElectionMs = uint(election.Milliseconds())
	}

	cfg.QuotaBackendBytes = opts.QuotaBackendBytes
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "0"
	if opts.AutoCompactionRetention > 0 {
		cfg.AutoCompactionRetention = opts.AutoCompactionRetention.String()
	}
	cfg.UnsafeNoFsync = opts.UnsafeNoFsync
	// The JSON gateway is not needed by clientv3 and would dial the client
	// URL from inside the server.
	cfg.EnableGRPCGateway = false

	lg := opts.Logger
	if lg == nil {
		lg = quietLogger()
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	return cfg, nil
}

// freePort returns a port on host that is free now (it may be taken again
// before it is used: StartEmbedded retries), other than avoid.
func freePort(host string, avoid int) (int, error) {
	for {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("etcd: find a free port on %s: %w", host, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != avoid {
			return port, nil
		}
	}
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

// watchErrors records the first error the server's listeners report.
func (m *Embedded) watchErrors() {
	defer close(m.monitor)
	for err := range m.etcd.Err() { // closed by embed.Etcd.Close
		if err == nil {
			continue
		}
		m.mu.Lock()
		if m.err == nil && !m.closing {
			m.err = err
		}
		m.mu.Unlock()
	}
}

// Endpoints returns the client URLs of the server, for Options.Endpoints.
func (m *Embedded) Endpoints() []string { return append([]string(nil), m.endpoints...) }

// DataDir returns the directory holding the server's data.
func (m *Embedded) DataDir() string { return m.dataDir }

// Etcd returns the underlying embed.Etcd, for what this type does not cover.
func (m *Embedded) Etcd() *embed.Etcd { return m.etcd }

// Done returns a channel closed when the server has stopped, after Close or
// on its own.
func (m *Embedded) Done() <-chan struct{} { return m.etcd.Server.StopNotify() }

// Err returns nil while the server runs normally. It returns the first error
// of the server's listeners, or ErrServerStopped if the server stopped
// without Close.
func (m *Embedded) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if !m.closing {
		select {
		case <-m.etcd.Server.StopNotify():
			return ErrServerStopped
		default:
		}
	}
	return nil
}

// NewClient returns a new etcd client connected to the server; the caller
// closes it.
func (m *Embedded) NewClient() (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   m.Endpoints(),
		DialTimeout: DefaultDialTimeout,
		Logger:      quietLogger(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connect to embedded server %v: %w", m.endpoints, err)
	}
	return c, nil
}

// NewStore returns a Store connected to the server with its own client,
// which the Store closes. opts.Endpoints is filled in when opts.Client is
// nil; the other options apply as in New.
func (m *Embedded) NewStore(opts Options) (*Store, error) {
	if opts.Client == nil {
		opts.Endpoints = m.Endpoints()
	}
	return New(opts)
}

// Close stops the server and waits until it has stopped: open client
// connections fail afterwards. With EmbeddedOptions.TempDir it removes the
// data. It is safe to call more than once.
func (m *Embedded) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closing = true
		m.mu.Unlock()
		m.closingLog.Store(true)
		m.etcd.Close()
		<-m.etcd.Server.StopNotify()
		<-m.monitor
		if m.removeDir {
			if err := os.RemoveAll(m.dataDir); err != nil {
				m.closeErr = fmt.Errorf("etcd: remove data dir: %w", err)
			}
		}
	})
	return m.closeErr
}
