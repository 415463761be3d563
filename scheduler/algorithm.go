package scheduler

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Algorithm is the one-method scheduler for research: given a pod and the
// nodes (read-only snapshots with their pods and requested resources), it
// returns the chosen node's name, or a non-success Status saying why the
// pod cannot be placed. Schedule is called from one goroutine at a time.
type Algorithm interface {
	Schedule(ctx context.Context, pod *corev1.Pod, nodes []*NodeInfo) (nodeName string, status *Status)
}

// AlgorithmFunc adapts a function to Algorithm.
type AlgorithmFunc func(ctx context.Context, pod *corev1.Pod, nodes []*NodeInfo) (string, *Status)

// Schedule calls f.
func (f AlgorithmFunc) Schedule(ctx context.Context, pod *corev1.Pod, nodes []*NodeInfo) (string, *Status) {
	return f(ctx, pod, nodes)
}

// ProfileFromAlgorithm returns a profile serving schedulerName whose only
// placement logic is alg: the algorithm runs as a PreFilter plugin that
// narrows the candidates to the node it chose. Queue order, binding,
// events, metrics and the cache are the framework's, so an algorithm swaps
// in with one line:
//
//	opts.Profiles = append(opts.Profiles, scheduler.ProfileFromAlgorithm("most-pods", alg))
func ProfileFromAlgorithm(schedulerName string, alg Algorithm) Profile {
	name := "Algorithm/" + schedulerName
	return Profile{
		SchedulerName:            schedulerName,
		Plugins:                  []PluginConfig{{Name: name}},
		Registry:                 Registry{name: func(any, Handle) (Plugin, error) { return &algorithmPlugin{name: name, alg: alg}, nil }},
		PercentageOfNodesToScore: 100,
	}
}

type algorithmPlugin struct {
	name string
	alg  Algorithm
}

var _ PreFilterPlugin = (*algorithmPlugin)(nil)

func (p *algorithmPlugin) Name() string { return p.name }

func (p *algorithmPlugin) PreFilter(ctx context.Context, _ *CycleState, pod *corev1.Pod, nodes []*NodeInfo) (*PreFilterResult, *Status) {
	host, st := p.alg.Schedule(ctx, pod, nodes)
	if !st.IsSuccess() {
		if !st.IsRejected() && st.Code() != Error {
			st = NewStatus(Unschedulable, st.Reasons()...)
		}
		return nil, st
	}
	if host == "" {
		return nil, NewStatus(Unschedulable, "algorithm chose no node")
	}
	return &PreFilterResult{NodeNames: sets.New(host)}, nil
}
