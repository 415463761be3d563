// Command embed shows gantry as a library: a Go program that starts a
// whole cluster in its own process - a master (API server over an embedded
// etcd, scheduler, controller manager) and two nodes on the in-memory
// runtime - then uses client-go against it like any program would: it
// creates a deployment, waits for its pods to run and prints where the
// scheduler put them. It needs no Docker and no root, and stops everything
// when done.
//
//	go run ./examples/embed
//
// Tests start an in-process cluster with cluster.StartTestCluster instead
// (in-memory store, no data directory).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/cluster"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "gantry-embed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nodes := []string{"node-a", "node-b"}

	// The master: port 0 picks a free one.
	m, err := cluster.NewMaster(cluster.MasterConfig{DataDir: dir, SecurePort: 0, NodeNames: nodes, Logger: quiet})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	masterDone := make(chan error, 1)
	go func() { masterDone <- m.Run(ctx) }()
	select {
	case err := <-masterDone:
		return fmt.Errorf("master: %w", err)
	case <-m.Ready():
	}
	fmt.Fprintln(out, "master ready at", m.URL())

	// Two nodes whose agents run pods on the fake runtime.
	nodeDone := make(chan error, len(nodes))
	for _, name := range nodes {
		cfg, err := m.NodeRESTConfig(name)
		if err != nil {
			return err
		}
		// The node agent's API serves the master's certificate for the
		// node and takes the API server's client certificate.
		certFile, keyFile := m.NodeServingCert(name)
		n, err := cluster.NewNode(cluster.NodeConfig{
			Name: name, RESTConfig: cfg, Runtime: cluster.RuntimeFake,
			NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0", Logger: quiet,
			TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFile: m.NodeClientCAFile(),
		})
		if err != nil {
			return err
		}
		go func() { nodeDone <- n.Run(ctx) }()
	}

	// From here on, plain client-go.
	cfg, err := m.RESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	labels := map[string]string{"app": "hello"}
	_, err = cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "hello", Image: "gantry.local/echo:1.0"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "created deployment hello with 4 replicas")
	for {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return err
		}
		var running []string
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running = append(running, fmt.Sprintf("  %s on %s", p.Name, p.Spec.NodeName))
			}
		}
		if len(running) == 4 {
			sort.Strings(running)
			fmt.Fprintln(out, "pods running:")
			for _, r := range running {
				fmt.Fprintln(out, r)
			}
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of 4 pods running: %w", len(running), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}

	stop()
	for range nodes {
		if err := <-nodeDone; err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if err := <-masterDone; err != nil {
		return fmt.Errorf("master: %w", err)
	}
	fmt.Fprintln(out, "stopped")
	return nil
}
