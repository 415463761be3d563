package scheduler

import (
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Default requests used for scoring pods that request nothing, as in
// kube-scheduler: 0.1 CPU and 200 MiB.
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is a set of quantities in their integer units: milli-CPU, bytes,
// pod count, and scalar (extended) resources.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int64
	Scalar           map[corev1.ResourceName]int64
}

// Add adds o to r.
func (r *Resource) Add(o *Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	r.AllowedPodNumber += o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[k] += v
	}
}

// Sub subtracts o from r.
func (r *Resource) Sub(o *Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	r.AllowedPodNumber -= o.AllowedPodNumber
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[k] -= v
	}
}

// Clone returns a deep copy.
func (r Resource) Clone() Resource {
	if r.Scalar != nil {
		m := make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			m[k] = v
		}
		r.Scalar = m
	}
	return r
}

// NewResource converts a ResourceList.
func NewResource(rl corev1.ResourceList) Resource {
	var r Resource
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case corev1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if r.Scalar == nil {
				r.Scalar = map[corev1.ResourceName]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
	return r
}

func maxResource(r *Resource, o Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[k] = max(r.Scalar[k], v)
	}
}

// PodRequests returns the effective requests of a pod: the sum over its
// containers, at least the largest init container, plus overhead. The
// second result substitutes the scoring defaults for zero CPU or memory
// requests of each container.
func PodRequests(pod *corev1.Pod) (req, nonZero Resource) {
	for i := range pod.Spec.Containers {
		c := NewResource(pod.Spec.Containers[i].Resources.Requests)
		req.Add(&c)
		nz := c
		if nz.MilliCPU == 0 {
			nz.MilliCPU = DefaultMilliCPURequest
		}
		if nz.Memory == 0 {
			nz.Memory = DefaultMemoryRequest
		}
		nonZero.MilliCPU += nz.MilliCPU
		nonZero.Memory += nz.Memory
	}
	for i := range pod.Spec.InitContainers {
		c := NewResource(pod.Spec.InitContainers[i].Resources.Requests)
		maxResource(&req, c)
		nonZero.MilliCPU = max(nonZero.MilliCPU, c.MilliCPU)
		nonZero.Memory = max(nonZero.Memory, c.Memory)
	}
	if pod.Spec.Overhead != nil {
		o := NewResource(pod.Spec.Overhead)
		req.Add(&o)
		nonZero.MilliCPU += o.MilliCPU
		nonZero.Memory += o.Memory
	}
	req.AllowedPodNumber = 0
	return req, nonZero
}

// AffinityTerm is a parsed pod (anti-)affinity term.
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector
}

// Matches reports whether pod (with its namespace's labels nsLabels, may be
// nil) is selected by the term.
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || (t.NamespaceSelector != nil && !t.NamespaceSelector.Empty() && t.NamespaceSelector.Matches(nsLabels)) ||
		(t.NamespaceSelector != nil && t.NamespaceSelector.Empty()) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a preferred term with its weight.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// PodInfo is a pod with values precomputed once for scheduling.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests are the effective requests; NonZeroRequests use the scoring
	// defaults for unset CPU and memory.
	Requests, NonZeroRequests Resource

	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// ParseError is set when an affinity term has an invalid selector.
	ParseError error
}

// NewPodInfo computes a PodInfo.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod}
	pi.Requests, pi.NonZeroRequests = PodRequests(pod)
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			pi.RequiredAffinityTerms = pi.parseTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAffinityTerms = pi.parseWeighted(pod, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if a.PodAntiAffinity != nil {
			pi.RequiredAntiAffinityTerms = pi.parseTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAntiAffinityTerms = pi.parseWeighted(pod, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	return pi
}

func (pi *PodInfo) parseTerm(pod *corev1.Pod, t *corev1.PodAffinityTerm) (AffinityTerm, bool) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		pi.ParseError = err
		return AffinityTerm{}, false
	}
	at := AffinityTerm{Selector: sel, TopologyKey: t.TopologyKey, Namespaces: sets.New(t.Namespaces...)}
	if t.NamespaceSelector != nil {
		ns, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			pi.ParseError = err
			return AffinityTerm{}, false
		}
		at.NamespaceSelector = ns
	}
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		at.Namespaces.Insert(pod.Namespace)
	}
	return at, true
}

func (pi *PodInfo) parseTerms(pod *corev1.Pod, ts []corev1.PodAffinityTerm) []AffinityTerm {
	var out []AffinityTerm
	for i := range ts {
		if at, ok := pi.parseTerm(pod, &ts[i]); ok {
			out = append(out, at)
		}
	}
	return out
}

func (pi *PodInfo) parseWeighted(pod *corev1.Pod, ts []corev1.WeightedPodAffinityTerm) []WeightedAffinityTerm {
	var out []WeightedAffinityTerm
	for i := range ts {
		if at, ok := pi.parseTerm(pod, &ts[i].PodAffinityTerm); ok {
			out = append(out, WeightedAffinityTerm{AffinityTerm: at, Weight: ts[i].Weight})
		}
	}
	return out
}

// HostPort is a used host port: protocol, port and host IP ("" or
// "0.0.0.0" means every address).
type HostPort struct {
	Protocol corev1.Protocol
	Port     int32
	IP       string
}

// Conflicts reports whether two host ports collide.
func (p HostPort) Conflicts(o HostPort) bool {
	if p.Protocol != o.Protocol || p.Port != o.Port {
		return false
	}
	return p.IP == o.IP || isAnyIP(p.IP) || isAnyIP(o.IP)
}

func isAnyIP(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// PodHostPorts lists the host ports a pod's containers ask for.
func PodHostPorts(pod *corev1.Pod) []HostPort {
	var out []HostPort
	for i := range pod.Spec.Containers {
		for _, p := range pod.Spec.Containers[i].Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			out = append(out, HostPort{Protocol: proto, Port: p.HostPort, IP: p.HostIP})
		}
	}
	return out
}

var generation atomic.Int64

func nextGeneration() int64 { return generation.Add(1) }

// NodeInfo is the scheduler's aggregated view of one node: the node, its
// pods (bound and assumed) and precomputed sums. NodeInfos in a Snapshot are
// read-only for plugins; the Cache owns and mutates its own copies.
type NodeInfo struct {
	node *corev1.Node
	name string // node.Name, kept here to avoid a pointer chase per node

	Pods                         []*PodInfo
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	UsedPorts                    []HostPort

	// Requested is the sum of the pods' requests; NonZeroRequested uses the
	// scoring defaults. Allocatable is the node's allocatable.
	Requested, NonZeroRequested, Allocatable Resource
	// Images maps image names (every tag and digest) to size in bytes.
	Images map[string]int64

	// Generation increases on every change.
	Generation int64
}

// NewNodeInfo returns a NodeInfo holding the pods (no node yet).
func NewNodeInfo(pods ...*corev1.Pod) *NodeInfo {
	ni := &NodeInfo{Generation: nextGeneration()}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Node returns the node object, nil if the node is not known yet.
func (n *NodeInfo) Node() *corev1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// Name returns the node's name, "" without a node.
func (n *NodeInfo) Name() string {
	if n == nil || n.node == nil {
		return ""
	}
	return n.name
}

// SetNode sets the node object and its allocatable and images.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.node = node
	n.name = node.Name
	n.Allocatable = NewResource(node.Status.Allocatable)
	n.Images = nil
	for _, img := range node.Status.Images {
		if n.Images == nil {
			n.Images = make(map[string]int64, len(node.Status.Images))
		}
		for _, name := range img.Names {
			n.Images[name] = img.SizeBytes
			n.Images[NormalizeImageName(name)] = img.SizeBytes
		}
	}
	n.Generation = nextGeneration()
}

// NormalizeImageName appends ":latest" to an image name without tag or
// digest.
func NormalizeImageName(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		switch name[i] {
		case ':', '@':
			return name
		case '/':
			return name + ":latest"
		}
	}
	return name + ":latest"
}

// AddPod adds a pod to the node's sums.
func (n *NodeInfo) AddPod(pod *corev1.Pod) { n.AddPodInfo(NewPodInfo(pod)) }

// AddPodInfo adds a pod to the node's sums.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if len(pi.RequiredAffinityTerms) > 0 || len(pi.RequiredAntiAffinityTerms) > 0 ||
		len(pi.PreferredAffinityTerms) > 0 || len(pi.PreferredAntiAffinityTerms) > 0 {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.Requested.Add(&pi.Requests)
	n.NonZeroRequested.MilliCPU += pi.NonZeroRequests.MilliCPU
	n.NonZeroRequested.Memory += pi.NonZeroRequests.Memory
	n.UsedPorts = append(n.UsedPorts, PodHostPorts(pi.Pod)...)
	n.Generation = nextGeneration()
}

func removeFrom(list []*PodInfo, uid types.UID) ([]*PodInfo, *PodInfo) {
	for i, p := range list {
		if p.Pod.UID == uid {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			return list[:last], p
		}
	}
	return list, nil
}

// RemovePod removes a pod (by UID) and reports whether it was there.
func (n *NodeInfo) RemovePod(pod *corev1.Pod) bool {
	var pi *PodInfo
	n.Pods, pi = removeFrom(n.Pods, pod.UID)
	if pi == nil {
		return false
	}
	n.PodsWithAffinity, _ = removeFrom(n.PodsWithAffinity, pod.UID)
	n.PodsWithRequiredAntiAffinity, _ = removeFrom(n.PodsWithRequiredAntiAffinity, pod.UID)
	n.Requested.Sub(&pi.Requests)
	n.NonZeroRequested.MilliCPU -= pi.NonZeroRequests.MilliCPU
	n.NonZeroRequested.Memory -= pi.NonZeroRequests.Memory
	for _, hp := range PodHostPorts(pi.Pod) {
		for i, u := range n.UsedPorts {
			if u == hp {
				n.UsedPorts = append(n.UsedPorts[:i], n.UsedPorts[i+1:]...)
				break
			}
		}
	}
	n.Generation = nextGeneration()
	return true
}

// Clone returns a copy that shares the node object and PodInfos but not
// the slices or sums.
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		node:             n.node,
		name:             n.name,
		Requested:        n.Requested.Clone(),
		NonZeroRequested: n.NonZeroRequested.Clone(),
		Allocatable:      n.Allocatable.Clone(),
		Images:           n.Images,
		Generation:       n.Generation,
	}
	c.Pods = append([]*PodInfo(nil), n.Pods...)
	if len(n.PodsWithAffinity) > 0 {
		c.PodsWithAffinity = append([]*PodInfo(nil), n.PodsWithAffinity...)
	}
	if len(n.PodsWithRequiredAntiAffinity) > 0 {
		c.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...)
	}
	if len(n.UsedPorts) > 0 {
		c.UsedPorts = append([]HostPort(nil), n.UsedPorts...)
	}
	return c
}
