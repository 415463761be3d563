package plugins

import (
	"context"
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/scheduler"
)

// ScoringStrategy selects how NodeResourcesFit scores.
type ScoringStrategy string

// Scoring strategies.
const (
	// LeastAllocated prefers nodes with the most free resources (spread).
	LeastAllocated ScoringStrategy = "LeastAllocated"
	// MostAllocated prefers the fullest nodes (bin packing).
	MostAllocated ScoringStrategy = "MostAllocated"
)

// ResourceWeight weighs one resource in scoring.
type ResourceWeight struct {
	Name   corev1.ResourceName
	Weight int64
}

// NodeResourcesFitArgs configure NodeResourcesFit (and, for Resources,
// NodeResourcesBalancedAllocation). The zero value means LeastAllocated
// over cpu and memory with weight 1.
type NodeResourcesFitArgs struct {
	Strategy  ScoringStrategy
	Resources []ResourceWeight
}

func (a *NodeResourcesFitArgs) defaults() {
	if a.Strategy == "" {
		a.Strategy = LeastAllocated
	}
	if len(a.Resources) == 0 {
		a.Resources = []ResourceWeight{{corev1.ResourceCPU, 1}, {corev1.ResourceMemory, 1}}
	}
}

func parseFitArgs(args any) (NodeResourcesFitArgs, error) {
	var a NodeResourcesFitArgs
	switch v := args.(type) {
	case nil:
	case NodeResourcesFitArgs:
		a = v
	case *NodeResourcesFitArgs:
		a = *v
	default:
		return a, fmt.Errorf("args: want NodeResourcesFitArgs, got %T", args)
	}
	a.defaults()
	switch a.Strategy {
	case LeastAllocated, MostAllocated:
	default:
		return a, fmt.Errorf("args: unknown scoring strategy %q", a.Strategy)
	}
	for _, r := range a.Resources {
		if r.Weight <= 0 {
			return a, fmt.Errorf("args: resource %q: weight must be positive", r.Name)
		}
	}
	return a, nil
}

// NodeResourcesFit rejects nodes without room for the pod's requests
// (cpu, memory, ephemeral storage, extended resources, and pod count) and
// scores by the configured strategy.
type NodeResourcesFit struct {
	args NodeResourcesFitArgs
}

var (
	_ scheduler.PreFilterPlugin = (*NodeResourcesFit)(nil)
	_ scheduler.FilterPlugin    = (*NodeResourcesFit)(nil)
	_ scheduler.ScorePlugin     = (*NodeResourcesFit)(nil)
)

// NewNodeResourcesFit is NodeResourcesFit's factory; args is
// NodeResourcesFitArgs or nil.
func NewNodeResourcesFit(args any, _ scheduler.Handle) (scheduler.Plugin, error) {
	a, err := parseFitArgs(args)
	if err != nil {
		return nil, err
	}
	return &NodeResourcesFit{args: a}, nil
}

// Name implements scheduler.Plugin.
func (*NodeResourcesFit) Name() string { return NodeResourcesFitName }

type podResources struct {
	req, nonZero scheduler.Resource
}

func (s *podResources) Clone() scheduler.StateData { return s }

func readPodResources(st *scheduler.CycleState, pod *corev1.Pod) *podResources {
	if d, err := st.Read(NodeResourcesFitName); err == nil {
		return d.(*podResources)
	}
	r, nz := scheduler.PodRequests(pod)
	return &podResources{req: r, nonZero: nz}
}

// PreFilter implements scheduler.PreFilterPlugin: it computes the pod's
// requests once.
func (*NodeResourcesFit) PreFilter(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, _ []*scheduler.NodeInfo) (*scheduler.PreFilterResult, *scheduler.Status) {
	r, nz := scheduler.PodRequests(pod)
	st.Write(NodeResourcesFitName, &podResources{req: r, nonZero: nz})
	return nil, nil
}

// Rejection reasons of NodeResourcesFit.
const (
	ReasonTooManyPods = "Too many pods"
	reasonInsufficent = "Insufficient "
)

// Filter implements scheduler.FilterPlugin. It does not allocate when the
// pod fits.
func (*NodeResourcesFit) Filter(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	pr := readPodResources(st, pod)
	var reasons []string
	if int64(len(ni.Pods))+1 > ni.Allocatable.AllowedPodNumber {
		reasons = append(reasons, ReasonTooManyPods)
	}
	r := &pr.req
	if r.MilliCPU > 0 && r.MilliCPU > ni.Allocatable.MilliCPU-ni.Requested.MilliCPU {
		reasons = append(reasons, reasonInsufficent+string(corev1.ResourceCPU))
	}
	if r.Memory > 0 && r.Memory > ni.Allocatable.Memory-ni.Requested.Memory {
		reasons = append(reasons, reasonInsufficent+string(corev1.ResourceMemory))
	}
	if r.EphemeralStorage > 0 && r.EphemeralStorage > ni.Allocatable.EphemeralStorage-ni.Requested.EphemeralStorage {
		reasons = append(reasons, reasonInsufficent+string(corev1.ResourceEphemeralStorage))
	}
	if len(r.Scalar) > 0 { // ranging over even a nil map costs a call per node
		for name, q := range r.Scalar {
			if q > 0 && q > ni.Allocatable.Scalar[name]-ni.Requested.Scalar[name] {
				reasons = append(reasons, reasonInsufficent+string(name))
			}
		}
	}
	if len(reasons) > 0 {
		return scheduler.NewStatus(scheduler.Unschedulable, reasons...)
	}
	return nil
}

func resourceValues(ni *scheduler.NodeInfo, pr *podResources, name corev1.ResourceName, nonZero bool) (requested, allocatable int64) {
	switch name {
	case corev1.ResourceCPU:
		if nonZero {
			return ni.NonZeroRequested.MilliCPU + pr.nonZero.MilliCPU, ni.Allocatable.MilliCPU
		}
		return ni.Requested.MilliCPU + pr.req.MilliCPU, ni.Allocatable.MilliCPU
	case corev1.ResourceMemory:
		if nonZero {
			return ni.NonZeroRequested.Memory + pr.nonZero.Memory, ni.Allocatable.Memory
		}
		return ni.Requested.Memory + pr.req.Memory, ni.Allocatable.Memory
	case corev1.ResourceEphemeralStorage:
		return ni.Requested.EphemeralStorage + pr.req.EphemeralStorage, ni.Allocatable.EphemeralStorage
	}
	return ni.Requested.Scalar[name] + pr.req.Scalar[name], ni.Allocatable.Scalar[name]
}

// Score implements scheduler.ScorePlugin: a weighted mean over resources
// of the free share (LeastAllocated) or used share (MostAllocated), 0..100.
func (p *NodeResourcesFit) Score(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	pr := readPodResources(st, pod)
	var sum, weights int64
	for _, rw := range p.args.Resources {
		req, alloc := resourceValues(ni, pr, rw.Name, true)
		if alloc == 0 {
			continue
		}
		var s int64
		switch p.args.Strategy {
		case MostAllocated:
			s = min(req, alloc) * scheduler.MaxNodeScore / alloc
		default:
			if req <= alloc {
				s = (alloc - req) * scheduler.MaxNodeScore / alloc
			}
		}
		sum += s * rw.Weight
		weights += rw.Weight
	}
	if weights == 0 {
		return 0, nil
	}
	return sum / weights, nil
}

// ScoreExtensions implements scheduler.ScorePlugin.
func (*NodeResourcesFit) ScoreExtensions() scheduler.ScoreExtensions { return nil }

// BalancedAllocation prefers nodes whose resource utilisation fractions
// stay close to each other after placing the pod: score = (1 - std) * 100.
type BalancedAllocation struct {
	args   NodeResourcesFitArgs
	cpuMem bool // Resources are exactly cpu and memory
}

var _ scheduler.ScorePlugin = (*BalancedAllocation)(nil)

// NewBalancedAllocation is BalancedAllocation's factory; args is
// NodeResourcesFitArgs (Resources only) or nil.
func NewBalancedAllocation(args any, _ scheduler.Handle) (scheduler.Plugin, error) {
	a, err := parseFitArgs(args)
	if err != nil {
		return nil, err
	}
	b := &BalancedAllocation{args: a}
	b.cpuMem = len(a.Resources) == 2 && a.Resources[0].Name == corev1.ResourceCPU && a.Resources[1].Name == corev1.ResourceMemory
	return b, nil
}

// Name implements scheduler.Plugin.
func (*BalancedAllocation) Name() string { return BalancedAllocationName }

// Score implements scheduler.ScorePlugin.
func (p *BalancedAllocation) Score(_ context.Context, st *scheduler.CycleState, pod *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	pr := readPodResources(st, pod)
	if p.cpuMem {
		// The default (cpu, memory) case without the generic loop.
		cpu, mem := 0.0, 0.0
		if a := ni.Allocatable.MilliCPU; a > 0 {
			cpu = min(1, float64(ni.Requested.MilliCPU+pr.req.MilliCPU)/float64(a))
		}
		if a := ni.Allocatable.Memory; a > 0 {
			mem = min(1, float64(ni.Requested.Memory+pr.req.Memory)/float64(a))
		}
		d := cpu - mem
		if d < 0 {
			d = -d
		}
		// The standard deviation of two values is half their difference.
		return int64((1 - d/2) * float64(scheduler.MaxNodeScore)), nil
	}
	var fr [8]float64
	n := 0
	for _, rw := range p.args.Resources {
		req, alloc := resourceValues(ni, pr, rw.Name, false)
		if alloc == 0 || n == len(fr) {
			continue
		}
		f := float64(req) / float64(alloc)
		if f > 1 {
			f = 1
		}
		fr[n] = f
		n++
	}
	if n < 2 {
		return scheduler.MaxNodeScore, nil
	}
	var mean float64
	for i := 0; i < n; i++ {
		mean += fr[i]
	}
	mean /= float64(n)
	var v float64
	for i := 0; i < n; i++ {
		v += (fr[i] - mean) * (fr[i] - mean)
	}
	std := math.Sqrt(v / float64(n))
	return int64((1 - std) * float64(scheduler.MaxNodeScore)), nil
}

// ScoreExtensions implements scheduler.ScorePlugin.
func (*BalancedAllocation) ScoreExtensions() scheduler.ScoreExtensions { return nil }
