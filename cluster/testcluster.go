package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/controller/controllermanager"
	"github.com/gantryhq/gantry/pki"
	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
)

// TestCluster is a whole cluster started inside a test by
// StartTestCluster: a TestMaster, the scheduler, the controller manager and
// nodes whose agents run pods on the fake runtime (pods are reported
// Running; nothing runs). Its fields must not be changed.
type TestCluster struct {
	*TestMaster
	// Nodes are the names of the nodes, Ready when StartTestCluster
	// returns.
	Nodes []string
}

// TestClusterOptions configure StartTestCluster. The zero value is a
// one-node cluster without authorization.
type TestClusterOptions struct {
	// Nodes is the number of nodes; 0 means 1. They are named
	// node-1, node-2, ...
	Nodes int
	// RBAC turns authorization on, as TestMasterOptions.RBAC; the
	// components then act with their own identities.
	RBAC bool
	// ServiceAccounts turns service account tokens on, as
	// TestMasterOptions.ServiceAccounts; the controller manager then also
	// runs the token controller and the root CA publisher, and
	// StartTestCluster returns once the default namespace has its default
	// service account.
	ServiceAccounts bool
}

// StartTestCluster starts a cluster for the test tb, in process: the
// in-memory store, the API server (HTTPS on a free port), the scheduler
// with the default plugins, every controller, and opts.Nodes node agents on
// the fake runtime. No external binary, no fixed port: tests may call it in
// parallel. It returns once every node is Ready; everything stops when the
// test ends. See BenchmarkStartTestCluster for how long that takes.
func StartTestCluster(tb testing.TB, opts TestClusterOptions) *TestCluster {
	tb.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	// Made before the cleanup that stops the nodes is registered, so that
	// it is removed after they stopped.
	rootDir := tb.TempDir()
	m := StartTestMasterWithOptions(tb, TestMasterOptions{RBAC: opts.RBAC, ServiceAccounts: opts.ServiceAccounts})
	ctx, cancel := context.WithCancel(context.Background())
	var stopped []<-chan error
	tb.Cleanup(func() {
		cancel()
		for _, c := range stopped {
			<-c
		}
	})
	start := func(name string, run func(context.Context) error) {
		done := make(chan error, 1)
		stopped = append(stopped, done)
		go func() { done <- run(ctx) }()
	}
	fail := func(format string, args ...any) {
		tb.Helper()
		tb.Fatalf("cluster: test cluster: "+format, args...)
	}
	log := slog.New(slog.NewTextHandler(&tbWriter{tb: tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))

	schedCfg := m.ConfigFor(pki.SchedulerUser)
	cmCfg := m.ConfigFor(pki.ControllerManagerUser)
	if !opts.RBAC {
		schedCfg, cmCfg = m.Config, m.Config
	}
	schedClient, err := kubernetes.NewForConfig(schedCfg)
	if err != nil {
		fail("%v", err)
	}
	sched, err := scheduler.NewRunner(scheduler.RunnerOptions{
		Client: schedClient, Registry: plugins.NewRegistry(),
		Profiles: []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
	})
	if err != nil {
		fail("scheduler: %v", err)
	}
	start("scheduler", sched.Run)
	cmOpts := controllermanager.Options{Config: cmCfg, Logger: log}
	if opts.ServiceAccounts {
		cmOpts.ServiceAccountKey, cmOpts.RootCA = m.ServiceAccountKey, m.CA.CertPEM()
	}
	cm, err := controllermanager.NewControllerManager(cmOpts)
	if err != nil {
		fail("controller manager: %v", err)
	}
	start("controller manager", cm.Run)

	tc := &TestCluster{TestMaster: m}
	for i := range opts.Nodes {
		name := fmt.Sprintf("node-%d", i+1)
		// The node agent's API: a serving certificate of the test CA, and
		// client certificates of it (the API server's).
		serving, err := m.CA.Issue(pki.NodeServingCertRequest(name, []net.IP{net.IPv4(127, 0, 0, 1)}))
		if err != nil {
			fail("%v", err)
		}
		certFile, keyFile := filepath.Join(rootDir, name+".crt"), filepath.Join(rootDir, name+".key")
		if err := serving.WriteFiles(certFile, keyFile); err != nil {
			fail("%v", err)
		}
		n, err := NewNode(NodeConfig{
			Name: name, RESTConfig: m.ConfigFor("system:node:"+name, "system:nodes"), Runtime: RuntimeFake,
			NodeIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), ServeAddress: "127.0.0.1:0", Logger: log,
			RootDir:     filepath.Join(rootDir, name),
			TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAData: m.CA.CertPEM(),
		})
		if err != nil {
			fail("%v", err)
		}
		start(name, n.Run)
		tc.Nodes = append(tc.Nodes, name)
	}
	if err := tc.waitNodesReady(ctx, time.Minute); err != nil {
		fail("%v", err)
	}
	if opts.ServiceAccounts {
		if err := tc.waitDefaultServiceAccount(ctx, time.Minute); err != nil {
			fail("%v", err)
		}
	}
	return tc
}

// waitDefaultServiceAccount polls the API until the default namespace has
// its default service account, which pods there need.
func (tc *TestCluster) waitDefaultServiceAccount(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := tc.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no default service account after %v (last error: %v)", timeout, err)
		case <-tick.C:
		}
	}
}

// waitNodesReady polls the API until every node reports Ready.
func (tc *TestCluster) waitNodesReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		nodes, err := tc.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		if err == nil {
			for _, n := range nodes.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready == len(tc.Nodes) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d nodes Ready after %v (last error: %v)", ready, len(tc.Nodes), timeout, err)
		case <-tick.C:
		}
	}
}
