package etcdtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	etcdstore "github.com/gantryhq/gantry/store/etcd"
)

// BinaryEnv names the environment variable that overrides the etcd binary
// (default: "etcd" on PATH).
const BinaryEnv = "GANTRY_ETCD_BINARY"

// Options configure Start.
type Options struct {
	// Members is the cluster size; default 1.
	Members int

	// TLS serves clients over https and requires client certificates
	// (--client-cert-auth), with a CA and certificates made for the test;
	// see Cluster.ClientTLSFiles. Peers talk plain http.
	TLS bool

	// Binary is the etcd executable; default $GANTRY_ETCD_BINARY, else
	// "etcd" on PATH.
	Binary string

	// StartTimeout bounds the wait for the cluster to become healthy;
	// default one minute.
	StartTimeout time.Duration

	// Args are extra etcd flags for every member, such as
	// "--quota-backend-bytes=1048576".
	Args []string
}

// Cluster is a set of etcd processes forming one cluster. Its methods are
// safe for concurrent use.
type Cluster struct {
	bin     string
	dir     string
	opts    Options
	token   string
	server  TLSFiles // server certificate, when opts.TLS
	client  TLSFiles // client certificate, when opts.TLS
	tlsConf *tls.Config

	mu      sync.Mutex
	members []*member
}

type member struct {
	name       string
	dataDir    string
	logPath    string
	clientURL  string
	peerURL    string
	clientPort int
	peerPort   int
	proc       *process // nil while stopped
}

// process is one running etcd.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been reaped
	err    error         // from Wait, valid after exited
}

// RequireBinary returns the path of the etcd binary (binary, else
// $GANTRY_ETCD_BINARY, else "etcd" on PATH). If there is none it skips the
// test, or fails it when the CI environment variable is set.
func RequireBinary(t testing.TB, binary string) string {
	t.Helper()
	if binary == "" {
		binary = os.Getenv(BinaryEnv)
	}
	if binary == "" {
		binary = "etcd"
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		msg := fmt.Sprintf("etcd binary %q not found (%v): install Debian's etcd-server package, or set %s", binary, err, BinaryEnv)
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI is set, so this is a failure (hack/test installs it)", msg)
			return ""
		}
		t.Skip(msg)
		return ""
	}
	return path
}

// StartProcess starts a cluster of members etcd processes on 127.0.0.1 and
// waits until every member is healthy. It is Start with Options{Members: members}.
func StartProcess(t testing.TB, members int) *Cluster {
	t.Helper()
	return Start(t, Options{Members: members})
}

// Start starts a cluster of etcd processes as opts says, waits until every
// member is healthy, and stops them in t.Cleanup. It fails the test if the
// cluster does not come up, with the end of each member's log.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Members == 0 {
		opts.Members = 1
	}
	if opts.Members < 0 {
		t.Fatalf("etcdtest: %d members", opts.Members)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = time.Minute
	}
	bin := RequireBinary(t, opts.Binary)
	dir := t.TempDir() // before the Cleanup below, so removed after it ran
	c := &Cluster{bin: bin, dir: dir, opts: opts}
	t.Cleanup(func() {
		if t.Failed() {
			c.logTails(t)
		}
		c.stopAll(t)
	})
	if opts.TLS {
		c.server, c.client = WriteTLSFiles(t, filepath.Join(dir, "pki"))
		conf, err := etcdstore.TLSConfigFromFiles(c.client.CAFile, c.client.CertFile, c.client.KeyFile)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		c.tlsConf = conf
	}

	// A port seen free may be taken before etcd binds it: start again with
	// new ports and fresh data directories.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		if err := c.setup(attempt); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		err := c.startAll()
		if err == nil {
			err = c.waitHealthy(c.indexes()...)
		}
		if err == nil {
			return c
		}
		bindFailed := c.logsContain("address already in use")
		c.stopAll(t)
		if !bindFailed || attempt == attempts {
			t.Fatalf("etcdtest: start %d-member etcd cluster: %v", opts.Members, err)
		}
		t.Logf("etcdtest: a port was taken, starting again (%v)", err)
	}
}

// setup chooses names, ports and fresh directories for every member.
func (c *Cluster) setup(attempt int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.opts.Members
	ports, err := freePorts(2 * n)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.opts.TLS {
		scheme = "https"
	}
	c.token = fmt.Sprintf("etcdtest-%d-%d-%d", os.Getpid(), ports[0], attempt)
	c.members = make([]*member, n)
	for i := range n {
		m := &member{
			name:       "m" + strconv.Itoa(i),
			clientPort: ports[2*i],
			peerPort:   ports[2*i+1],
		}
		base := filepath.Join(c.dir, fmt.Sprintf("try%d-%s", attempt, m.name))
		if err := os.MkdirAll(base, 0o700); err != nil {
			return err
		}
		m.dataDir = filepath.Join(base, "data")
		m.logPath = filepath.Join(base, "etcd.log")
		m.clientURL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, m.clientPort)
		m.peerURL = fmt.Sprintf("http://127.0.0.1:%d", m.peerPort)
		c.members[i] = m
	}
	return nil
}

// freePorts returns n distinct ports that are free on 127.0.0.1 now.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) indexes() []int {
	idx := make([]int, len(c.members))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// args returns the command line of member i.
func (c *Cluster) args(m *member) []string {
	peers := make([]string, len(c.members))
	for i, p := range c.members {
		peers[i] = p.name + "=" + p.peerURL
	}
	args := []string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", strings.Join(peers, ","),
		"--initial-cluster-state", "new",
		"--initial-cluster-token", c.token,
		// Fast but not flaky elections on a loaded 2-core machine.
		"--heartbeat-interval", "50",
		"--election-timeout", "750",
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
	if c.opts.TLS {
		args = append(args,
			"--cert-file", c.server.CertFile,
			"--key-file", c.server.KeyFile,
			"--trusted-ca-file", c.server.CAFile,
			"--client-cert-auth",
		)
	}
	return append(args, c.opts.Args...)
}

func (c *Cluster) startAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if err := c.startLocked(m); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startLocked(m *member) error {
	if m.proc != nil {
		return fmt.Errorf("member %s is already running", m.name)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(c.bin, c.args(m)...)
	cmd.Env = childEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.name, err)
	}
	m.proc = p
	return nil
}

// childEnv is this process's environment without ETCD_* variables, which
// etcd would read as flags (and reject next to the same command-line flag).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// startProcess starts cmd from a goroutine locked to its OS thread for the
// life of the child: on Linux the child gets SIGKILL when that thread exits
// (Pdeathsig), so a test binary that dies leaves no etcd behind, and no
// other goroutine's thread exit can kill it early.
func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		setParentDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// stop ends the process: SIGTERM, then SIGKILL after grace. It waits until
// the process has been reaped.
func (p *process) stop(grace time.Duration) {
	if grace > 0 {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.exited:
			return
		case <-timer.C:
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (c *Cluster) stopAll(t testing.TB) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range c.members {
		if m.proc != nil {
			wg.Add(1)
			go func(p *process) {
				defer wg.Done()
				p.stop(0)
			}(m.proc)
			m.proc = nil
		}
	}
	wg.Wait()
}

// waitHealthy waits until each listed member answers a linearizable read
// and knows a leader.
func (c *Cluster) waitHealthy(idx ...int) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	for _, i := range idx {
		c.mu.Lock()
		m := c.members[i]
		p := m.proc
		c.mu.Unlock()
		if p == nil {
			return fmt.Errorf("member %s is not running", m.name)
		}
		if err := c.waitMember(ctx, m, p); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) waitMember(ctx context.Context, m *member, p *process) error {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{m.clientURL},
		TLS:       c.tlsConf,
		Logger:    zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("member %s: client: %w", m.name, err)
	}
	defer cli.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = probe(ctx, cli, m.clientURL)
		if last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("member %s exited: %v", m.name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("member %s not healthy: %w (last error: %v)", m.name, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func probe(ctx context.Context, cli *clientv3.Client, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, endpoint)
	if err != nil {
		return err
	}
	if st.Leader == 0 {
		return errors.New("no leader")
	}
	_, err = cli.Get(ctx, "/etcdtest-health")
	return err
}

// Size returns the number of members.
func (c *Cluster) Size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.members)
}

// Endpoints returns the client URLs of all members, running or not.
func (c *Cluster) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL
	}
	return eps
}

// Endpoint returns the client URL of member i.
func (c *Cluster) Endpoint(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].clientURL
}

// ClientTLSFiles returns the CA, client certificate and key files to reach a
// TLS cluster (Options.TLS), as one would pass to kube-apiserver's
// --etcd-cafile, --etcd-certfile and --etcd-keyfile. Zero without TLS.
func (c *Cluster) ClientTLSFiles() TLSFiles { return c.client }

// ClientTLS returns the client TLS configuration for a TLS cluster, nil
// without TLS.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.tlsConf == nil {
		return nil
	}
	return c.tlsConf.Clone()
}

// NewClient returns a client of all members, closed in t.Cleanup.
func (c *Cluster) NewClient(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		TLS:         c.ClientTLS(),
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// StopMember stops member i gracefully (SIGTERM, SIGKILL after 10s) and
// waits until it has exited. Its data stays for StartMember.
func (c *Cluster) StopMember(t testing.TB, i int) {
	t.Helper()
	c.stopMember(t, i, 10*time.Second)
}

// KillMember kills member i with SIGKILL, like a crash, and waits until it
// has exited. Its data stays for StartMember.
func (c *Cluster) KillMember(t testing.TB, i int) {
	t.Helper()
	c.stopMember(t, i, 0)
}

func (c *Cluster) stopMember(t testing.TB, i int, grace time.Duration) {
	t.Helper()
	c.mu.Lock()
	m := c.members[i]
	p := m.proc
	m.proc = nil
	c.mu.Unlock()
	if p == nil {
		t.Fatalf("etcdtest: member %s is not running", m.name)
	}
	p.stop(grace)
}

// StartMember starts member i again on its data and ports, and waits until
// it is healthy (which needs a majority of the members running).
func (c *Cluster) StartMember(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	err := c.startLocked(c.members[i])
	c.mu.Unlock()
	if err == nil {
		err = c.waitHealthy(i)
	}
	if err != nil {
		t.Fatalf("etcdtest: restart member %d: %v", i, err)
	}
}

// Running reports whether member i is running.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.members[i].proc
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (c *Cluster) logsContain(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		if b, err := os.ReadFile(m.logPath); err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// logTails logs the last lines of every member's log.
func (c *Cluster) logTails(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		b, err := os.ReadFile(m.logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		t.Logf("etcdtest: last lines of member %s's log (%s):\n%s", m.name, m.logPath, strings.Join(lines, "\n"))
	}
}
