package plugins

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/scheduler"
)

// InterPodAffinity enforces required pod affinity and anti-affinity (the
// incoming pod's terms and existing pods' anti-affinity terms) and scores
// preferred terms in both directions. Namespace selectors are matched
// against empty namespace labels (the scheduler has no namespace lister).
type InterPodAffinity struct{ h scheduler.Handle }

var (
	_ scheduler.PreFilterPlugin     = (*InterPodAffinity)(nil)
	_ scheduler.PreFilterExtensions = (*InterPodAffinity)(nil)
	_ scheduler.FilterPlugin        = (*InterPodAffinity)(nil)
	_ scheduler.PreScorePlugin      = (*InterPodAffinity)(nil)
	_ scheduler.ScorePlugin         = (*InterPodAffinity)(nil)
)

// NewInterPodAffinity is InterPodAffinity's factory.
func NewInterPodAffinity(_ any, h scheduler.Handle) (scheduler.Plugin, error) {
	return &InterPodAffinity{h: h}, nil
}

// Name implements scheduler.Plugin.
func (*InterPodAffinity) Name() string { return InterPodAffinityName }

// Rejection reasons of InterPodAffinity.
const (
	ReasonAffinityRules              = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinityRules          = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity       = "node(s) didn't satisfy existing pods anti-affinity rules"
	hardPodAffinityWeight      int64 = 1
)

type topologyPair struct{ key, value string }

type pairCounts map[topologyPair]int64

func (m pairCounts) clone() pairCounts {
	c := make(pairCounts, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

type affinityState struct {
	incoming     *scheduler.PodInfo
	existingAnti pairCounts
	affinity     pairCounts
	anti         pairCounts
}

func (s *affinityState) Clone() scheduler.StateData {
	return &affinityState{incoming: s.incoming, existingAnti: s.existingAnti.clone(), affinity: s.affinity.clone(), anti: s.anti.clone()}
}

func matchesAll(terms []scheduler.AffinityTerm, pod *corev1.Pod) bool {
	for i := range terms {
		if !terms[i].Matches(pod, nil) {
			return false
		}
	}
	return len(terms) > 0
}

// account adds delta for one existing pod on node.
func (s *affinityState) account(existing *scheduler.PodInfo, node *corev1.Node, delta int64) {
	pod := s.incoming.Pod
	for i := range existing.RequiredAntiAffinityTerms {
		t := &existing.RequiredAntiAffinityTerms[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && t.Matches(pod, nil) {
			s.existingAnti[topologyPair{t.TopologyKey, v}] += delta
		}
	}
	if matchesAll(s.incoming.RequiredAffinityTerms, existing.Pod) {
		for i := range s.incoming.RequiredAffinityTerms {
			t := &s.incoming.RequiredAffinityTerms[i]
			if v, ok := node.Labels[t.TopologyKey]; ok {
				s.affinity[topologyPair{t.TopologyKey, v}] += delta
			}
		}
	}
	for i := range s.incoming.RequiredAntiAffinityTerms {
		t := &s.incoming.RequiredAntiAffinityTerms[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && t.Matches(existing.Pod, nil) {
			s.anti[topologyPair{t.TopologyKey, v}] += delta
		}
	}
}

// PreFilter implements scheduler.PreFilterPlugin: Skip when neither the
// pod nor any existing pod has required terms.
func (p *InterPodAffinity) PreFilter(_ context.Context, cs *scheduler.CycleState, pod *corev1.Pod, nodes []*scheduler.NodeInfo) (*scheduler.PreFilterResult, *scheduler.Status) {
	pi := scheduler.NewPodInfo(pod)
	if pi.ParseError != nil {
		return nil, scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, pi.ParseError.Error())
	}
	lister := p.h.SnapshotSharedLister()
	ownTerms := len(pi.RequiredAffinityTerms) > 0 || len(pi.RequiredAntiAffinityTerms) > 0
	withAffinity := lister.HavePodsWithAffinityList()
	if !ownTerms && len(withAffinity) == 0 {
		return nil, scheduler.NewStatus(scheduler.Skip)
	}
	st := &affinityState{incoming: pi, existingAnti: pairCounts{}, affinity: pairCounts{}, anti: pairCounts{}}
	scan := withAffinity
	if ownTerms {
		scan = nodes
	}
	for _, ni := range scan {
		node := ni.Node()
		if ownTerms {
			for _, e := range ni.Pods {
				st.account(e, node, 1)
			}
			continue
		}
		for _, e := range ni.PodsWithRequiredAntiAffinity {
			st.account(e, node, 1)
		}
	}
	cs.Write(InterPodAffinityName, st)
	return nil, nil
}

func (p *InterPodAffinity) update(cs *scheduler.CycleState, other *scheduler.PodInfo, ni *scheduler.NodeInfo, delta int64) *scheduler.Status {
	d, err := cs.Read(InterPodAffinityName)
	if err != nil {
		return nil
	}
	d.(*affinityState).account(other, ni.Node(), delta)
	return nil
}

// AddPod implements scheduler.PreFilterExtensions.
func (p *InterPodAffinity) AddPod(_ context.Context, cs *scheduler.CycleState, _ *corev1.Pod, add *scheduler.PodInfo, ni *scheduler.NodeInfo) *scheduler.Status {
	return p.update(cs, add, ni, 1)
}

// RemovePod implements scheduler.PreFilterExtensions.
func (p *InterPodAffinity) RemovePod(_ context.Context, cs *scheduler.CycleState, _ *corev1.Pod, rm *scheduler.PodInfo, ni *scheduler.NodeInfo) *scheduler.Status {
	return p.update(cs, rm, ni, -1)
}

// Filter implements scheduler.FilterPlugin.
func (p *InterPodAffinity) Filter(_ context.Context, cs *scheduler.CycleState, _ *corev1.Pod, ni *scheduler.NodeInfo) *scheduler.Status {
	d, err := cs.Read(InterPodAffinityName)
	if err != nil {
		return scheduler.AsStatus(err)
	}
	st := d.(*affinityState)
	node := ni.Node()
	if len(st.existingAnti) > 0 {
		for k, v := range node.Labels {
			if st.existingAnti[topologyPair{k, v}] > 0 {
				return scheduler.NewStatus(scheduler.Unschedulable, ReasonExistingAntiAffinity)
			}
		}
	}
	for i := range st.incoming.RequiredAntiAffinityTerms {
		t := &st.incoming.RequiredAntiAffinityTerms[i]
		if v, ok := node.Labels[t.TopologyKey]; ok && st.anti[topologyPair{t.TopologyKey, v}] > 0 {
			return scheduler.NewStatus(scheduler.Unschedulable, ReasonAntiAffinityRules)
		}
	}
	if terms := st.incoming.RequiredAffinityTerms; len(terms) > 0 {
		anyMatch := false
		for _, n := range st.affinity {
			if n > 0 {
				anyMatch = true
				break
			}
		}
		for i := range terms {
			v, ok := node.Labels[terms[i].TopologyKey]
			if !ok {
				return scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, ReasonAffinityRules)
			}
			if st.affinity[topologyPair{terms[i].TopologyKey, v}] <= 0 {
				// The first pod of a group that matches its own terms may
				// go anywhere with the topology keys.
				if !anyMatch && matchesAll(terms, st.incoming.Pod) {
					continue
				}
				return scheduler.NewStatus(scheduler.Unschedulable, ReasonAffinityRules)
			}
		}
	}
	return nil
}

type affinityScores struct {
	keys   []string
	scores pairCounts
}

func (s *affinityScores) Clone() scheduler.StateData { return s }

const affinityScoreKey = InterPodAffinityName + "/score"

func (s *affinityScores) add(key string, node *corev1.Node, w int64) {
	v, ok := node.Labels[key]
	if !ok || w == 0 {
		return
	}
	pair := topologyPair{key, v}
	if _, seen := s.scores[pair]; !seen {
		found := false
		for _, k := range s.keys {
			found = found || k == key
		}
		if !found {
			s.keys = append(s.keys, key)
		}
	}
	s.scores[pair] += w
}

// PreScore implements scheduler.PreScorePlugin: Skip when neither the pod
// nor existing pods have affinity terms.
func (p *InterPodAffinity) PreScore(_ context.Context, cs *scheduler.CycleState, pod *corev1.Pod, _ []*scheduler.NodeInfo) *scheduler.Status {
	pi := scheduler.NewPodInfo(pod)
	lister := p.h.SnapshotSharedLister()
	own := len(pi.PreferredAffinityTerms) > 0 || len(pi.PreferredAntiAffinityTerms) > 0
	withAffinity := lister.HavePodsWithAffinityList()
	if !own && len(withAffinity) == 0 {
		return scheduler.NewStatus(scheduler.Skip)
	}
	st := &affinityScores{scores: pairCounts{}}
	scan := withAffinity
	if own {
		scan = lister.List()
	}
	for _, ni := range scan {
		node := ni.Node()
		for _, e := range ni.Pods {
			for i := range pi.PreferredAffinityTerms {
				t := &pi.PreferredAffinityTerms[i]
				if t.Matches(e.Pod, nil) {
					st.add(t.TopologyKey, node, int64(t.Weight))
				}
			}
			for i := range pi.PreferredAntiAffinityTerms {
				t := &pi.PreferredAntiAffinityTerms[i]
				if t.Matches(e.Pod, nil) {
					st.add(t.TopologyKey, node, -int64(t.Weight))
				}
			}
			for i := range e.PreferredAffinityTerms {
				t := &e.PreferredAffinityTerms[i]
				if t.Matches(pod, nil) {
					st.add(t.TopologyKey, node, int64(t.Weight))
				}
			}
			for i := range e.PreferredAntiAffinityTerms {
				t := &e.PreferredAntiAffinityTerms[i]
				if t.Matches(pod, nil) {
					st.add(t.TopologyKey, node, -int64(t.Weight))
				}
			}
			for i := range e.RequiredAffinityTerms {
				t := &e.RequiredAffinityTerms[i]
				if t.Matches(pod, nil) {
					st.add(t.TopologyKey, node, hardPodAffinityWeight)
				}
			}
		}
	}
	if len(st.scores) == 0 {
		return scheduler.NewStatus(scheduler.Skip)
	}
	cs.Write(affinityScoreKey, st)
	return nil
}

// Score implements scheduler.ScorePlugin.
func (p *InterPodAffinity) Score(_ context.Context, cs *scheduler.CycleState, _ *corev1.Pod, ni *scheduler.NodeInfo) (int64, *scheduler.Status) {
	d, err := cs.Read(affinityScoreKey)
	if err != nil {
		return 0, scheduler.AsStatus(err)
	}
	st := d.(*affinityScores)
	var s int64
	for _, k := range st.keys {
		if v, ok := ni.Node().Labels[k]; ok {
			s += st.scores[topologyPair{k, v}]
		}
	}
	return s, nil
}

// ScoreExtensions implements scheduler.ScorePlugin.
func (p *InterPodAffinity) ScoreExtensions() scheduler.ScoreExtensions { return minMaxNormalizer{} }

type minMaxNormalizer struct{}

func (minMaxNormalizer) NormalizeScore(_ context.Context, _ *scheduler.CycleState, _ *corev1.Pod, scores []scheduler.NodeScore) *scheduler.Status {
	minMaxNormalize(scores)
	return nil
}
