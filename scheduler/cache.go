package scheduler

import (
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// CacheOptions configure a Cache.
type CacheOptions struct {
	// Now reads the clock for assumed-pod expiry; nil means time.Now.
	Now func() time.Time
	// AssumedPodTTL is how long an assumed pod whose binding finished may
	// wait for its confirming informer event before it expires; 0 means
	// never.
	AssumedPodTTL time.Duration
}

// Cache is the scheduler's incremental model of the cluster: nodes, bound
// pods and assumed pods (placed by the scheduler but not yet confirmed by
// the API server). It starts no goroutines; the owner calls
// CleanupAssumedPods periodically. Safe for concurrent use.
type Cache struct {
	mu         sync.RWMutex
	opts       CacheOptions
	nodes      map[string]*nodeItem
	head       *nodeItem // most recently changed first
	pods       map[types.UID]*podState
	nodeSetGen int64
}

type nodeItem struct {
	info       *NodeInfo
	prev, next *nodeItem
}

type podState struct {
	pod             *corev1.Pod
	assumed         bool
	bindingFinished bool
	deadline        time.Time
}

// NewCache returns an empty cache.
func NewCache(opts CacheOptions) *Cache {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache{opts: opts, nodes: map[string]*nodeItem{}, pods: map[types.UID]*podState{}}
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (c *Cache) moveToHead(it *nodeItem) {
	if c.head == it {
		return
	}
	if it.prev != nil {
		it.prev.next = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	}
	it.prev = nil
	it.next = c.head
	if c.head != nil {
		c.head.prev = it
	}
	c.head = it
}

func (c *Cache) unlink(it *nodeItem) {
	if it.prev != nil {
		it.prev.next = it.next
	} else if c.head == it {
		c.head = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	}
	it.prev, it.next = nil, nil
}

func (c *Cache) item(name string) *nodeItem {
	it, ok := c.nodes[name]
	if !ok {
		it = &nodeItem{info: NewNodeInfo()}
		c.nodes[name] = it
		c.nodeSetGen++
	}
	return it
}

// AddNode adds or replaces a node.
func (c *Cache) AddNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.item(node.Name)
	it.info.SetNode(node)
	c.nodeSetGen++
	c.moveToHead(it)
}

// UpdateNode replaces a node.
func (c *Cache) UpdateNode(_, node *corev1.Node) { c.AddNode(node) }

// RemoveNode removes a node. Its pods stay accounted until they are
// removed.
func (c *Cache) RemoveNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.nodes[node.Name]
	if !ok {
		return
	}
	c.nodeSetGen++
	if len(it.info.Pods) == 0 {
		c.unlink(it)
		delete(c.nodes, node.Name)
		return
	}
	it.info.node = nil
	it.info.Generation = nextGeneration()
	c.moveToHead(it)
}

func (c *Cache) addPodLocked(pod *corev1.Pod) {
	it := c.item(pod.Spec.NodeName)
	it.info.AddPod(pod)
	c.moveToHead(it)
}

func (c *Cache) removePodLocked(pod *corev1.Pod) {
	it, ok := c.nodes[pod.Spec.NodeName]
	if !ok {
		return
	}
	it.info.RemovePod(pod)
	if it.info.node == nil && len(it.info.Pods) == 0 {
		c.unlink(it)
		delete(c.nodes, pod.Spec.NodeName)
		c.nodeSetGen++
		return
	}
	c.moveToHead(it)
}

// AssumePod accounts a pod on pod.Spec.NodeName before binding finishes.
func (c *Cache) AssumePod(pod *corev1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pod.UID]; ok {
		return fmt.Errorf("pod %q: already in the cache", podKey(pod))
	}
	c.addPodLocked(pod)
	c.pods[pod.UID] = &podState{pod: pod, assumed: true}
	return nil
}

// FinishBinding starts the expiry of an assumed pod.
func (c *Cache) FinishBinding(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		ps.bindingFinished = true
		if c.opts.AssumedPodTTL > 0 {
			ps.deadline = c.opts.Now().Add(c.opts.AssumedPodTTL)
		}
	}
}

// ForgetPod removes an assumed pod (binding failed).
func (c *Cache) ForgetPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		c.removePodLocked(ps.pod)
		delete(c.pods, pod.UID)
	}
}

// IsAssumedPod reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumedPod(pod *corev1.Pod) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ps, ok := c.pods[pod.UID]
	return ok && ps.assumed
}

// AddPod adds a bound pod, confirming it if it was assumed.
func (c *Cache) AddPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok {
		c.removePodLocked(ps.pod)
	}
	c.addPodLocked(pod)
	c.pods[pod.UID] = &podState{pod: pod}
}

// UpdatePod replaces a bound pod.
func (c *Cache) UpdatePod(_, pod *corev1.Pod) { c.AddPod(pod) }

// RemovePod removes a pod.
func (c *Cache) RemovePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok {
		c.removePodLocked(ps.pod)
		delete(c.pods, pod.UID)
	}
}

// CleanupAssumedPods expires assumed pods whose binding finished more than
// AssumedPodTTL ago, and returns them.
func (c *Cache) CleanupAssumedPods() []*corev1.Pod {
	if c.opts.AssumedPodTTL <= 0 {
		return nil
	}
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*corev1.Pod
	for uid, ps := range c.pods {
		if ps.assumed && ps.bindingFinished && now.After(ps.deadline) {
			c.removePodLocked(ps.pod)
			delete(c.pods, uid)
			out = append(out, ps.pod)
		}
	}
	return out
}

// Node returns the cached object of the named node, nil if unknown. The
// object is shared: do not modify it.
func (c *Cache) Node(name string) *corev1.Node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if it, ok := c.nodes[name]; ok {
		return it.info.node
	}
	return nil
}

// NodeCount returns the number of nodes known with a node object.
func (c *Cache) NodeCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, it := range c.nodes {
		if it.info.node != nil {
			n++
		}
	}
	return n
}

// PodCount returns the number of pods (bound and assumed).
func (c *Cache) PodCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pods)
}

// Snapshot is an immutable-per-cycle copy of the cache's nodes, refreshed
// incrementally by Cache.UpdateSnapshot. Owned by one scheduling loop; not
// safe for concurrent update and read.
type Snapshot struct {
	nodeInfoMap          map[string]*NodeInfo
	nodeInfoList         []*NodeInfo
	havePodsWithAffinity []*NodeInfo
	imageCount           map[string]int
	generation           int64
	nodeSetGen           int64
}

var _ NodeInfoLister = (*Snapshot)(nil)

// NewEmptySnapshot returns a snapshot with no nodes.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{nodeInfoMap: map[string]*NodeInfo{}, nodeSetGen: -1}
}

// NewSnapshot builds a snapshot from nodes and bound pods (for tests and
// algorithms run outside a cache).
func NewSnapshot(pods []*corev1.Pod, nodes []*corev1.Node) *Snapshot {
	c := NewCache(CacheOptions{})
	for _, n := range nodes {
		c.AddNode(n)
	}
	for _, p := range pods {
		c.AddPod(p)
	}
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	return s
}

// List implements NodeInfoLister.
func (s *Snapshot) List() []*NodeInfo { return s.nodeInfoList }

// HavePodsWithAffinityList implements NodeInfoLister.
func (s *Snapshot) HavePodsWithAffinityList() []*NodeInfo { return s.havePodsWithAffinity }

// Get implements NodeInfoLister.
func (s *Snapshot) Get(name string) (*NodeInfo, error) {
	if ni, ok := s.nodeInfoMap[name]; ok && ni.node != nil {
		return ni, nil
	}
	return nil, fmt.Errorf("node %q: %w", name, ErrNotFound)
}

// NumNodesWithImage implements NodeInfoLister.
func (s *Snapshot) NumNodesWithImage(image string) int { return s.imageCount[image] }

// NumNodes returns the number of nodes.
func (s *Snapshot) NumNodes() int { return len(s.nodeInfoList) }

// UpdateSnapshot brings s up to date, copying only NodeInfos that changed
// since the last update.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	maxGen := s.generation
	rebuildAffinity := false
	for it := c.head; it != nil && it.info.Generation > s.generation; it = it.next {
		maxGen = max(maxGen, it.info.Generation)
		name := ""
		if it.info.node != nil {
			name = it.info.node.Name
		} else if len(it.info.Pods) > 0 {
			name = it.info.Pods[0].Pod.Spec.NodeName
		}
		old, ok := s.nodeInfoMap[name]
		clone := it.info.Clone()
		if ok {
			if (len(old.PodsWithAffinity) > 0) != (len(clone.PodsWithAffinity) > 0) {
				rebuildAffinity = true
			}
			*old = *clone
		} else {
			s.nodeInfoMap[name] = clone
		}
	}
	s.generation = maxGen
	if s.nodeSetGen != c.nodeSetGen {
		for name := range s.nodeInfoMap {
			if _, ok := c.nodes[name]; !ok {
				delete(s.nodeInfoMap, name)
			}
		}
		s.nodeInfoList = s.nodeInfoList[:0]
		names := make([]string, 0, len(s.nodeInfoMap))
		for name, ni := range s.nodeInfoMap {
			if ni.node != nil {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		s.imageCount = map[string]int{}
		for _, name := range names {
			ni := s.nodeInfoMap[name]
			s.nodeInfoList = append(s.nodeInfoList, ni)
			for img := range ni.Images {
				s.imageCount[img]++
			}
		}
		s.nodeSetGen = c.nodeSetGen
		rebuildAffinity = true
	}
	if rebuildAffinity {
		s.havePodsWithAffinity = s.havePodsWithAffinity[:0]
		for _, ni := range s.nodeInfoList {
			if len(ni.PodsWithAffinity) > 0 {
				s.havePodsWithAffinity = append(s.havePodsWithAffinity, ni)
			}
		}
	}
}
