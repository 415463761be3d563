package nodeagent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gantryhq/gantry/runtime"
)

// probeKind is liveness, readiness or startup.
type probeKind string

const (
	liveness  probeKind = "liveness"
	readiness probeKind = "readiness"
	startup   probeKind = "startup"
)

// title is the kind as event messages start with it ("Liveness").
func (k probeKind) title() string { return strings.ToUpper(string(k[:1])) + string(k[1:]) }

// probeState is the record of one probe of one container (attempt).
type probeState struct {
	last                time.Time
	successes, failures int32
	passed              bool // the current result (after the thresholds)
	everPassed          bool
}

// probes keeps the probe results of every container, by container ID.
type probes struct {
	mu     sync.Mutex
	states map[string]map[probeKind]*probeState
}

func (p *probes) get(id string, kind probeKind) *probeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.states == nil {
		p.states = map[string]map[probeKind]*probeState{}
	}
	if p.states[id] == nil {
		p.states[id] = map[probeKind]*probeState{}
	}
	if p.states[id][kind] == nil {
		p.states[id][kind] = &probeState{}
	}
	return p.states[id][kind]
}

// forget drops the records of containers not in keep.
func (p *probes) forget(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.states {
		if !keep[id] {
			delete(p.states, id)
		}
	}
}

// probeResult is what probing a running container concluded.
type probeResult struct {
	ready, started bool
	// kill is set when the liveness or startup probe failed for good.
	kill string
	// next is when a probe is due again (0: none configured).
	next time.Duration
}

// probe runs the container's due probes and returns its readiness.
func (a *Agent) probe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, rc *runtime.ContainerStatus, podIP string) probeResult {
	now := a.clock.Now()
	res := probeResult{ready: true, started: true}
	due := func(p *corev1.Probe, st *probeState) (bool, time.Duration) {
		period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
		first := rc.StartedAt.Add(time.Duration(p.InitialDelaySeconds) * time.Second)
		if now.Before(first) {
			return false, first.Sub(now)
		}
		if !st.last.IsZero() && now.Sub(st.last) < period {
			return false, period - now.Sub(st.last)
		}
		return true, period
	}
	next := func(d time.Duration) {
		if res.next == 0 || d < res.next {
			res.next = d
		}
	}
	run := func(kind probeKind, p *corev1.Probe) *probeState {
		st := a.probes.get(rc.ID, kind)
		ok, wait := due(p, st)
		next(wait)
		if !ok {
			return st
		}
		st.last = now
		err := a.runProbe(ctx, p, c, rc, podIP)
		if err == nil {
			st.successes, st.failures = st.successes+1, 0
			if st.successes >= max(p.SuccessThreshold, 1) {
				st.passed, st.everPassed = true, true
			}
		} else {
			st.successes, st.failures = 0, st.failures+1
			a.event(pod, corev1.EventTypeWarning, "Unhealthy", fmt.Sprintf("%s probe failed: %v", kind.title(), err))
			if st.failures >= max(p.FailureThreshold, 1) {
				st.passed = false
				if kind != readiness {
					res.kill = fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, kind)
				}
			}
		}
		return st
	}
	if p := c.StartupProbe; p != nil {
		st := a.probes.get(rc.ID, startup)
		if !st.everPassed {
			st = run(startup, p)
		}
		if !st.everPassed {
			res.started, res.ready = false, false
			return res
		}
	}
	if p := c.LivenessProbe; p != nil {
		run(liveness, p)
	}
	if p := c.ReadinessProbe; p != nil {
		st := run(readiness, p)
		res.ready = st.passed
	}
	return res
}

// runProbe runs one probe attempt; nil means success.
func (a *Agent) runProbe(ctx context.Context, p *corev1.Probe, c *corev1.Container, rc *runtime.ContainerStatus, podIP string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(p.TimeoutSeconds, 1))*time.Second)
	defer cancel()
	switch {
	case p.Exec != nil:
		var out bytes.Buffer
		code, err := a.rt.Exec(ctx, rc.ID, runtime.ExecOptions{Cmd: p.Exec.Command, Stdout: &out, Stderr: &out})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", strings.Join(p.Exec.Command, " "), code, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	case p.HTTPGet != nil:
		return httpGet(ctx, p.HTTPGet, c, podIP)
	case p.TCPSocket != nil:
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := probePort(c, p.TCPSocket.Port)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return nil
}

// httpGet runs an HTTP GET action (of a probe or a lifecycle hook)
// against the container: nil for a 2xx or 3xx answer.
func httpGet(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) error {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := probePort(c, g.Port)
	if err != nil {
		return err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	req.Header.Set("User-Agent", "gantry-probe/1.0")
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// probeClient does not follow redirects off the pod (a 3xx is a success).
var probeClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// probePort resolves a probe's port, by number or by the name of one of the
// container's ports.
func probePort(c *corev1.Container, p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, p.StrVal)
}
