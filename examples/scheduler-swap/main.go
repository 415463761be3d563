// Command scheduler-swap runs a custom placement algorithm as a second
// scheduler in a running cluster. Pods choose it with
// spec.schedulerName (default "most-pods"); every other pod is left to the
// default scheduler.
//
//	scheduler-swap --kubeconfig ~/.kube/config --scheduler-name most-pods --algorithm most-pods
//
// The algorithm is one Go type implementing scheduler.Algorithm; it
// becomes a profile with scheduler.ProfileFromAlgorithm.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/scheduler"
)

// MostPods bin-packs by pod count: it picks the node that already runs the
// most pods among those with room for the pod's requests and pod count.
type MostPods struct{}

// Schedule implements scheduler.Algorithm.
func (MostPods) Schedule(_ context.Context, pod *corev1.Pod, nodes []*scheduler.NodeInfo) (string, *scheduler.Status) {
	req, _ := scheduler.PodRequests(pod)
	best, most := "", -1
	for _, n := range nodes {
		if !fits(n, &req) {
			continue
		}
		if len(n.Pods) > most {
			best, most = n.Name(), len(n.Pods)
		}
	}
	if best == "" {
		return "", scheduler.NewStatus(scheduler.Unschedulable, fmt.Sprintf("0/%d nodes have room for the pod", len(nodes)))
	}
	return best, nil
}

// Random picks uniformly among the nodes with room.
type Random struct{ R *rand.Rand }

// Schedule implements scheduler.Algorithm.
func (a Random) Schedule(_ context.Context, pod *corev1.Pod, nodes []*scheduler.NodeInfo) (string, *scheduler.Status) {
	req, _ := scheduler.PodRequests(pod)
	var ok []string
	for _, n := range nodes {
		if fits(n, &req) {
			ok = append(ok, n.Name())
		}
	}
	if len(ok) == 0 {
		return "", scheduler.NewStatus(scheduler.Unschedulable, fmt.Sprintf("0/%d nodes have room for the pod", len(nodes)))
	}
	return ok[a.R.IntN(len(ok))], nil
}

// fits checks requests, pod count, cordon and NoSchedule taints (this
// algorithm honours no tolerations: tainted nodes are skipped).
func fits(n *scheduler.NodeInfo, req *scheduler.Resource) bool {
	node := n.Node()
	if node.Spec.Unschedulable || int64(len(n.Pods)) >= n.Allocatable.AllowedPodNumber {
		return false
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return req.MilliCPU <= n.Allocatable.MilliCPU-n.Requested.MilliCPU &&
		req.Memory <= n.Allocatable.Memory-n.Requested.Memory
}

// Algorithm returns the named algorithm.
func Algorithm(name string, seed uint64) (scheduler.Algorithm, error) {
	switch name {
	case "most-pods":
		return MostPods{}, nil
	case "random":
		return Random{R: rand.New(rand.NewPCG(seed, seed))}, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q (want most-pods or random)", name)
}

type config struct {
	kubeconfig, master, schedulerName, algorithm, healthz string
	leaderElect                                           bool
	seed                                                  uint64
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := pflag.NewFlagSet("scheduler-swap", pflag.ContinueOnError)
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "path to a kubeconfig (empty: in-cluster)")
	fs.StringVar(&c.master, "master", "", "API server address, overrides the kubeconfig")
	fs.StringVar(&c.schedulerName, "scheduler-name", "most-pods", "spec.schedulerName this scheduler serves")
	fs.StringVar(&c.algorithm, "algorithm", "most-pods", "placement algorithm: most-pods or random")
	fs.StringVar(&c.healthz, "healthz-bind-address", "127.0.0.1:10261", "address for /healthz and /metrics (empty: off)")
	fs.BoolVar(&c.leaderElect, "leader-elect", false, "campaign for a Lease named after --scheduler-name in kube-system")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the random algorithm")
	return c, fs.Parse(args)
}

func run(ctx context.Context, args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	alg, err := Algorithm(c.algorithm, c.seed)
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags(c.master, c.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(scheduler.ClientConfig(rc))
	if err != nil {
		return err
	}
	opts := scheduler.RunnerOptions{
		Client:   cs,
		Profiles: []scheduler.Profile{scheduler.ProfileFromAlgorithm(c.schedulerName, alg)},
	}
	if c.leaderElect {
		opts.LeaderElection = &scheduler.LeaderElection{Name: c.schedulerName}
	}
	r, err := scheduler.NewRunner(opts)
	if err != nil {
		return err
	}
	if c.healthz != "" {
		ln, err := net.Listen("tcp", c.healthz)
		if err != nil {
			return fmt.Errorf("healthz: %w", err)
		}
		srv := &http.Server{Handler: r.Handler()}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	slog.Info("scheduler-swap running", "schedulerName", c.schedulerName, "algorithm", c.algorithm)
	return r.Run(ctx)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "scheduler-swap:", err)
		os.Exit(1)
	}
}
