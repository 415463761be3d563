// Command sim replays one workload trace against several scheduler
// configurations on a simulated cluster and prints a side-by-side table.
//
//	sim --nodes 50 --jobs 2000 --seed 1 --out results/
//	sim --trace trace.csv --candidates default,most-allocated,most-pods
//
// With --out it writes results.csv, samples.csv, results.json and the
// utilisation chart as utilisation.svg and utilisation.png; for a seed
// these files are identical on every run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
	"github.com/gantryhq/gantry/scheduler/sim"
)

// mostPods places a pod on the fitting node with the most pods.
type mostPods struct{}

func (mostPods) Schedule(_ context.Context, p *corev1.Pod, nodes []*scheduler.NodeInfo) (string, *scheduler.Status) {
	req, _ := scheduler.PodRequests(p)
	best, most := "", -1
	for _, n := range nodes {
		fits := req.MilliCPU <= n.Allocatable.MilliCPU-n.Requested.MilliCPU && req.Memory <= n.Allocatable.Memory-n.Requested.Memory &&
			int64(len(n.Pods)) < n.Allocatable.AllowedPodNumber
		if fits && len(n.Pods) > most {
			best, most = n.Name(), len(n.Pods)
		}
	}
	if best == "" {
		return "", scheduler.NewStatus(scheduler.Unschedulable, "no node has room")
	}
	return best, nil
}

func candidate(name string) (sim.Candidate, error) {
	switch name {
	case "default":
		return sim.Candidate{Name: name, Registry: plugins.NewRegistry(), Profile: plugins.DefaultProfile("")}, nil
	case "most-allocated":
		ps := plugins.DefaultPlugins()
		for i := range ps {
			if ps[i].Name == plugins.NodeResourcesFitName {
				ps[i].Args = plugins.NodeResourcesFitArgs{Strategy: plugins.MostAllocated}
			}
		}
		return sim.Candidate{Name: name, Registry: plugins.NewRegistry(), Profile: scheduler.Profile{Plugins: ps}}, nil
	case "most-pods":
		return sim.Candidate{Name: name, Profile: scheduler.ProfileFromAlgorithm(name, mostPods{})}, nil
	}
	return sim.Candidate{}, fmt.Errorf("unknown candidate %q (want default, most-allocated, most-pods)", name)
}

func readTrace(path string) (sim.Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".json") {
		return sim.ReadJSONL(f)
	}
	return sim.ReadCSV(f)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	nodes := fs.Int("nodes", 20, "simulated nodes")
	cpu := fs.Int64("node-cpu-millis", 4000, "allocatable milli-CPU per node")
	mem := fs.Int64("node-memory-mib", 16384, "allocatable memory per node (MiB)")
	jobs := fs.Int("jobs", 1000, "synthetic jobs (without --trace)")
	seed := fs.Uint64("seed", 1, "seed of the generator and of tie-breaking")
	interarrival := fs.Duration("mean-interarrival", 100*time.Millisecond, "mean gap between synthetic arrivals")
	duration := fs.Duration("mean-duration", time.Minute, "mean synthetic job duration")
	highPrio := fs.Float64("high-priority-share", 0.1, "share of synthetic jobs with priority 1000")
	tracePath := fs.String("trace", "", "trace file (.csv or .jsonl); empty generates one")
	saveTrace := fs.String("save-trace", "", "write the trace used as CSV here")
	cands := fs.String("candidates", "default,most-allocated,most-pods", "comma-separated candidates")
	out := fs.String("out", "", "directory for results.csv, samples.csv, results.json, utilisation.svg, utilisation.png")
	wall := fs.Bool("wall", true, "also print wall-clock decision latency (not reproducible)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var tr sim.Trace
	var err error
	if *tracePath != "" {
		if tr, err = readTrace(*tracePath); err != nil {
			return fmt.Errorf("trace %q: %w", *tracePath, err)
		}
	} else {
		tr = sim.Generate(*seed, sim.GenerateOptions{Jobs: *jobs, MeanInterarrival: *interarrival, MeanDuration: *duration, HighPriorityShare: *highPrio})
	}
	if *saveTrace != "" {
		f, err := os.Create(*saveTrace)
		if err != nil {
			return err
		}
		if err := tr.WriteCSV(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	var cs []sim.Candidate
	for _, name := range strings.Split(*cands, ",") {
		c, err := candidate(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	cfg := sim.Config{Cluster: sim.UniformCluster(*nodes, *cpu, *mem, 110), Trace: tr, Seed: *seed}
	res, err := sim.Compare(ctx, cfg, cs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d jobs on %d nodes, seed %d\n", len(tr), *nodes, *seed)
	if err := sim.WriteTable(stdout, res, *wall); err != nil {
		return err
	}
	if *out == "" {
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer, []*sim.Result) error{
		"results.csv": sim.WriteCSV, "samples.csv": sim.WriteSamplesCSV, "results.json": sim.WriteJSON, "utilisation.svg": sim.WriteSVG, "utilisation.png": sim.WritePNG,
	} {
		f, err := os.Create(filepath.Join(*out, name))
		if err != nil {
			return err
		}
		if err := write(f, res); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
}
