package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the main package pkg (an import path) into a temporary
// directory of the test and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, gobin, "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Kubectl returns the path of kubectl on PATH; without one the test is
// skipped, except on CI (CI set) where it fails.
func Kubectl(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kubectl is not on PATH")
		}
		t.Skip("kubectl is not on PATH")
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a started program whose output is kept.
type Process struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	exited chan struct{}
	group  bool  // signals go to the process group
	err    error // Wait's result, set before exited is closed
}

// Start starts bin with args; it is killed when the test ends if it still
// runs.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	return start(t, exec.Command(bin, args...), false)
}

// StartGroup starts bin with args in directory dir, in a process group of
// its own: Signal and the final kill go to the whole group. It is for
// scripts and `go run`, whose work is done by a child process.
func StartGroup(t testing.TB, dir, bin string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return start(t, cmd, true)
}

func start(t testing.TB, cmd *exec.Cmd, group bool) *Process {
	t.Helper()
	p := &Process{t: t, exited: make(chan struct{}), cmd: cmd, group: group}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.kill(syscall.SIGKILL)
			<-p.exited
			t.Logf("killed %s; stdout:\n%s\nstderr:\n%s", cmd.Path, p.Stdout(), p.Stderr())
		}
	})
	return p
}

func (p *Process) kill(sig syscall.Signal) error {
	if p.group {
		return syscall.Kill(-p.cmd.Process.Pid, sig)
	}
	return p.cmd.Process.Signal(sig)
}

// Stdout and Stderr return what the process wrote so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to standard error so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Exited returns a channel closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Signal sends sig to the process (to its group, for StartGroup).
func (p *Process) Signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.kill(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code; it fails the test when it does not exit in time.
func (p *Process) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("process did not exit within %v; stdout:\n%s\nstderr:\n%s", timeout, p.Stdout(), p.Stderr())
	}
	var exit *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.t.Fatalf("process killed by %v; stderr:\n%s", ws.Signal(), p.Stderr())
		}
		return exit.ExitCode()
	}
	p.t.Fatalf("wait: %v", p.err)
	return -1
}

// WaitOutput waits up to timeout until the process's standard output
// contains want. It fails the test when the process exits first or the
// time is up.
func (p *Process) WaitOutput(want string, timeout time.Duration) {
	p.t.Helper()
	if err := p.waitOutput(want, timeout); err != nil {
		p.t.Fatalf("%v; stdout:\n%s\nstderr:\n%s", err, p.Stdout(), p.Stderr())
	}
}

func (p *Process) waitOutput(want string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if strings.Contains(p.Stdout(), want) {
			return nil
		}
		select {
		case <-p.exited:
			if strings.Contains(p.Stdout(), want) {
				return nil
			}
			return fmt.Errorf("process exited (%v) before writing %q", p.err, want)
		case <-deadline.C:
			return fmt.Errorf("no %q in the output within %v", want, timeout)
		case <-tick.C:
		}
	}
}

// StartServer starts bin with args plus the port flag set to a free port
// and waits until its output contains ready. When the port was taken in the
// meantime (the process exits saying "address already in use") it tries
// again with another port, up to three times. It returns the process and
// the port.
func StartServer(t testing.TB, bin, portFlag, ready string, timeout time.Duration, args ...string) (*Process, int) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		p := Start(t, bin, append(args, fmt.Sprintf("%s=%d", portFlag, port))...)
		err := p.waitOutput(ready, timeout)
		if err == nil {
			return p, port
		}
		if attempt < 3 && strings.Contains(p.Stderr(), "address already in use") {
			continue
		}
		t.Fatalf("%s: %v; stdout:\n%s\nstderr:\n%s", bin, err, p.Stdout(), p.Stderr())
	}
}

// Eventually calls cond every interval until it returns true or timeout
// passes, then fails the test with cond's last message.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("condition not met within %v: %s", timeout, msg)
		case <-tick.C:
		}
	}
}

// KubectlRunner runs kubectl with one kubeconfig, in a home directory of its
// own (kubectl keeps a discovery cache there).
type KubectlRunner struct {
	Bin, Kubeconfig, Home string
}

// NewKubectl returns a runner for the kubectl on PATH (see Kubectl).
func NewKubectl(t testing.TB, kubeconfig string) *KubectlRunner {
	t.Helper()
	return &KubectlRunner{Bin: Kubectl(t), Kubeconfig: kubeconfig, Home: t.TempDir()}
}

// Try runs kubectl and returns its combined output and error.
func (k *KubectlRunner) Try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.Bin, append([]string{"--kubeconfig", k.Kubeconfig, "--request-timeout=20s"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.Home, "KUBECONFIG=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Run runs kubectl and returns its output; a failure fails the test.
func (k *KubectlRunner) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := k.Try(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// HTTPGet fetches url on a new connection (dial, when not nil, makes it,
// for example from inside a network namespace) and returns the body; a
// status other than 200 is an error.
func HTTPGet(url string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}
