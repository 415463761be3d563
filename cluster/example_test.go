package cluster_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/spf13/pflag"

	"github.com/gantryhq/gantry/cluster"
)

func ExampleNewMaster() {
	dir, _ := os.MkdirTemp("", "gantry-example-")
	defer os.RemoveAll(dir)

	m, err := cluster.NewMaster(cluster.MasterConfig{
		DataDir:    dir, // PKI, embedded etcd data and the admin kubeconfig
		SecurePort: 0,   // any free port; cluster.DefaultSecurePort in programs
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		log.Fatal(err)
	}

	// What kubectl --kubeconfig <dir>/kubeconfig would use.
	cfg, err := clientcmd.BuildConfigFromFlags("", m.AdminKubeconfig())
	if err != nil {
		log.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(m.AdminKubeconfig()), ns.Name)

	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// kubeconfig default
	// stopped: <nil>
}

func ExampleStartTestMaster() {
	// In a test function:
	test := func(t *testing.T) {
		m := cluster.StartTestMaster(t) // stopped when the test ends
		_, err := m.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Another identity (no authorization: it may do anything).
		jane := kubernetes.NewForConfigOrDie(m.ConfigFor("jane", "developers"))
		_ = jane
	}
	_ = test
}

func ExampleStartTestMasterWithOptions() {
	// In a test function:
	test := func(t *testing.T) {
		m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
		// The administrator may do anything; jane nothing until a role is
		// bound to her or to group developers.
		jane := kubernetes.NewForConfigOrDie(m.ConfigFor("jane", "developers"))
		_, err := jane.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("jane: %v", err)
		}
	}
	_ = test
}

func ExampleMasterConfig_AddFlags() {
	cfg := cluster.MasterConfig{DataDir: "./gantry-data", SecurePort: cluster.DefaultSecurePort}
	fs := pflag.NewFlagSet("master", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse([]string{"--secure-port=7443", "--etcd-servers=https://10.0.0.5:2379,https://10.0.0.6:2379", "--service-node-port-range=30000-30999"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.DataDir, cfg.SecurePort, cfg.EtcdServers, cfg.ServiceNodePortRange)
	// Output: ./gantry-data 7443 [https://10.0.0.5:2379 https://10.0.0.6:2379] 30000-30999
}
