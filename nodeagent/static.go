package nodeagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver/defaults"
)

// Annotations of static pods and their mirror pods, as the kubelet sets
// them. The mirror pod annotation is corev1.MirrorPodAnnotationKey.
const (
	// ConfigSourceAnnotation says where a pod came from: "file" for a
	// static pod read from Options.PodManifestPath.
	ConfigSourceAnnotation = "kubernetes.io/config.source"
	// ConfigHashAnnotation is a static pod's hash (also its UID, and the
	// value of its mirror pod's corev1.MirrorPodAnnotationKey).
	ConfigHashAnnotation = "kubernetes.io/config.hash"
	// ConfigSourceFile is the ConfigSourceAnnotation of static pods.
	ConfigSourceFile = "file"
)

// staticPods holds the static pods read from a manifest directory. Its
// methods are safe for concurrent use and, on a nil *staticPods (no
// manifest directory), report that there are none.
type staticPods struct {
	dir, node string

	mu sync.Mutex
	// pods are the current static pods by key (namespace/name); files
	// says which file each came from.
	pods  map[string]*corev1.Pod
	files map[string]string
	// old are pods replaced (their manifest changed) or removed (their
	// file went), by key: they are stopped before anything else happens
	// to the key.
	old map[string][]*corev1.Pod
	// bad remembers the files that failed to parse, and why, so that each
	// failure is logged once.
	bad map[string]string
}

func newStaticPods(dir, node string) *staticPods {
	return &staticPods{dir: dir, node: node, pods: map[string]*corev1.Pod{}, files: map[string]string{},
		old: map[string][]*corev1.Pod{}, bad: map[string]string{}}
}

// has reports whether key is a static pod's, current or being stopped.
func (s *staticPods) has(key string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pods[key] != nil || len(s.old[key]) > 0
}

// keys are the keys of the current static pods, sorted.
func (s *staticPods) keys() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.pods))
	for k := range s.pods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// uids are the UIDs of every static pod, current or being stopped: their
// containers and volumes are not orphans.
func (s *staticPods) uids() []types.UID {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var uids []types.UID
	for _, p := range s.pods {
		uids = append(uids, p.UID)
	}
	for _, ps := range s.old {
		for _, p := range ps {
			uids = append(uids, p.UID)
		}
	}
	return uids
}

// get returns copies of key's current pod (nil if its file went) and of
// the pods of key still to stop.
func (s *staticPods) get(key string) (*corev1.Pod, []*corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *corev1.Pod
	if p := s.pods[key]; p != nil {
		cur = p.DeepCopy()
	}
	var old []*corev1.Pod
	for _, p := range s.old[key] {
		old = append(old, p.DeepCopy())
	}
	return cur, old
}

// isStatic reports whether pod is a current static pod (by UID).
func (s *staticPods) isStatic(pod *corev1.Pod) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pods[pod.Namespace+"/"+pod.Name]
	return p != nil && p.UID == pod.UID
}

// setStatus keeps a static pod's status (the agent is its only source).
func (s *staticPods) setStatus(pod *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pods[pod.Namespace+"/"+pod.Name]; p != nil && p.UID == pod.UID {
		p.Status = *pod.Status.DeepCopy()
	}
}

// stopped drops a pod of key that has been stopped and removed.
func (s *staticPods) stopped(key string, uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.old[key] = slices.DeleteFunc(s.old[key], func(p *corev1.Pod) bool { return p.UID == uid })
	if len(s.old[key]) == 0 {
		delete(s.old, key)
	}
}

// set replaces the current static pods with pods (by key, each with the
// file it came from) and returns the keys that changed: added, replaced
// (a new UID: the manifest changed) or removed. A replaced or removed pod
// is kept to be stopped.
func (s *staticPods) set(pods map[string]*corev1.Pod, files map[string]string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []string
	for key, cur := range s.pods {
		if next := pods[key]; next == nil || next.UID != cur.UID {
			s.old[key] = append(s.old[key], cur)
			delete(s.pods, key)
			changed = append(changed, key)
		}
	}
	for key, next := range pods {
		if s.pods[key] == nil {
			s.pods[key] = next
			if !slices.Contains(changed, key) {
				changed = append(changed, key)
			}
		}
	}
	s.files = files
	sort.Strings(changed)
	return changed
}

// read reads the manifest directory: one pod per regular file whose name
// does not start with a dot. A file that cannot be read or parsed (or
// names a pod another file names too) is skipped and reported in errs, by
// file: its pod, if it ran, stops as if the file had gone. A missing
// directory holds no pods.
func (s *staticPods) read() (pods map[string]*corev1.Pod, files map[string]string, errs map[string]error) {
	pods, files, errs = map[string]*corev1.Pod{}, map[string]string{}, map[string]error{}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			errs[s.dir] = err
		}
		return pods, files, errs
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		info, err := os.Stat(path) // follows symlinks
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs[path] = err
			continue
		}
		pod, err := staticPod(data, path, s.node)
		if err != nil {
			errs[path] = err
			continue
		}
		key := pod.Namespace + "/" + pod.Name
		if other, dup := files[key]; dup {
			errs[path] = fmt.Errorf("pod %q is already defined in %s", key, other)
			continue
		}
		pods[key], files[key] = pod, path
	}
	return pods, files, errs
}

// staticPod decodes one manifest (YAML or JSON) into the static pod the
// node runs: named <name>-<node>, in namespace "default" unless it names
// one, bound to node, defaulted as the API server would, with a UID and
// config hash computed from the manifest, its path and the node.
func staticPod(data []byte, path, node string) (*corev1.Pod, error) {
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding the manifest: %w", err)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("the manifest is a %s, not a v1 Pod", gvk.Kind)
	}
	if pod.Name == "" {
		return nil, errors.New("the pod has no metadata.name")
	}
	if pod.Spec.ServiceAccountName != "" || pod.Spec.DeprecatedServiceAccount != "" {
		return nil, fmt.Errorf("static pod %q may not use a service account", pod.Name)
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != node {
		return nil, fmt.Errorf("static pod %q is bound to node %q, not this node (%q)", pod.Name, pod.Spec.NodeName, node)
	}
	// The hash covers what the manifest says, not how it says it.
	canonical, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", node, path)
	h.Write(canonical)
	hash := hex.EncodeToString(h.Sum(nil))[:32]

	pod.Name = pod.Name + "-" + node
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.UID = types.UID(hash)
	pod.ResourceVersion, pod.Generation, pod.DeletionTimestamp = "", 0, nil
	pod.Spec.NodeName = node
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	delete(pod.Annotations, corev1.MirrorPodAnnotationKey)
	pod.Annotations[ConfigSourceAnnotation] = ConfigSourceFile
	pod.Annotations[ConfigHashAnnotation] = hash
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	defaults.Pod(pod)
	return pod, nil
}

// readManifests reads the manifest directory once and queues the static
// pods that changed.
func (a *Agent) readManifests(ctx context.Context) {
	pods, files, errs := a.static.read()
	a.static.mu.Lock()
	for path, err := range errs {
		if a.static.bad[path] != err.Error() {
			a.log.WarnContext(ctx, "skipping a static pod manifest", "file", path, "err", err)
		}
	}
	a.static.bad = map[string]string{}
	for path, err := range errs {
		a.static.bad[path] = err.Error()
	}
	a.static.mu.Unlock()
	for _, key := range a.static.set(pods, files) {
		a.log.InfoContext(ctx, "static pod manifest changed", "pod", key)
		a.queue.Add(key)
	}
}

// syncStatic syncs the static pod of key: stops its replaced or removed
// versions, runs the current one (status kept by the agent) and makes its
// mirror pod match. The pod runs whether or not the API server answers;
// mirror errors only make the sync come back sooner.
func (a *Agent) syncStatic(ctx context.Context, key string) (time.Duration, error) {
	cur, old := a.static.get(key)
	for _, p := range old {
		if err := a.stopStaticPod(ctx, p); err != nil {
			return 0, fmt.Errorf("stopping static pod %q (%s): %w", key, p.UID, err)
		}
		a.static.stopped(key, p.UID)
	}
	if cur == nil {
		// Its file went: so does its mirror pod (which, once the static pod
		// is forgotten, is an orphan the informer's next event removes).
		if namespace, name, err := cache.SplitMetaNamespaceKey(key); err == nil && a.podsSynced.Load() {
			if m, err := a.pods.Pods(namespace).Get(name); err == nil && isMirrorPod(m) {
				return 0, a.deleteMirror(ctx, m)
			}
		}
		return 0, nil
	}
	requeue, err := a.runPod(ctx, cur)
	if merr := a.syncMirror(ctx, cur); merr != nil && ctx.Err() == nil {
		a.log.WarnContext(ctx, "updating a static pod's mirror pod", "pod", key, "err", merr)
		requeue = min(requeue, a.opts.BackOff)
	}
	return requeue, err
}

// stopStaticPod stops a static pod no longer wanted within its grace
// period (preStop hooks first) and removes its containers and volumes.
func (a *Agent) stopStaticPod(ctx context.Context, pod *corev1.Pod) error {
	state, err := a.observe(ctx, pod.UID)
	if err != nil {
		return err
	}
	grace := time.Duration(ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
	if err := a.stopAll(ctx, pod, state, grace); err != nil {
		return err
	}
	if err := a.removePod(ctx, pod.UID); err != nil {
		return err
	}
	return a.volumes.tearDown(pod.UID)
}

// isMirrorPod reports whether pod is a mirror pod.
func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

// syncMirror makes the mirror pod of static pod pod exist, with pod's
// hash, and carry its status. A mirror pod of another hash (an old
// manifest), or one being deleted, is deleted at once and made anew.
func (a *Agent) syncMirror(ctx context.Context, pod *corev1.Pod) error {
	if !a.podsSynced.Load() {
		return nil // not registered yet: Run queues the static pods then
	}
	hash := pod.Annotations[ConfigHashAnnotation]
	mirror, err := a.pods.Pods(pod.Namespace).Get(pod.Name)
	switch {
	case apierrors.IsNotFound(err):
		return a.createMirror(ctx, pod)
	case err != nil:
		return err
	}
	if mirror.Annotations[corev1.MirrorPodAnnotationKey] != hash || mirror.DeletionTimestamp != nil || !isMirrorPod(mirror) {
		if !isMirrorPod(mirror) {
			// An API pod of the static pod's name: the kubelet leaves it,
			// and so does the agent, reporting the clash.
			return fmt.Errorf("pod %s/%s exists and is not a mirror pod", pod.Namespace, pod.Name)
		}
		if err := a.deleteMirror(ctx, mirror); err != nil {
			return err
		}
		return a.createMirror(ctx, pod)
	}
	if equality.Semantic.DeepEqual(mirror.Status, pod.Status) {
		return nil
	}
	m := mirror.DeepCopy()
	m.Status = pod.Status
	_, err = a.cs.CoreV1().Pods(m.Namespace).UpdateStatus(ctx, m, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("mirror pod %s/%s: status: %w", m.Namespace, m.Name, err)
	}
	return nil
}

// createMirror creates the mirror pod of a static pod, owned by the Node,
// and writes its status.
func (a *Agent) createMirror(ctx context.Context, pod *corev1.Pod) error {
	nodeUID, err := a.getNodeUID(ctx)
	if err != nil {
		return err
	}
	m := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace,
			Labels:      pod.Labels,
			Annotations: map[string]string{},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: a.opts.NodeName, UID: nodeUID, Controller: ptr.To(true),
			}},
		},
		Spec: *pod.Spec.DeepCopy(),
	}
	for k, v := range pod.Annotations {
		m.Annotations[k] = v
	}
	m.Annotations[corev1.MirrorPodAnnotationKey] = pod.Annotations[ConfigHashAnnotation]
	created, err := a.cs.CoreV1().Pods(m.Namespace).Create(ctx, m, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // the informer has not seen it yet; the next sync updates it
	}
	if err != nil {
		return fmt.Errorf("creating mirror pod %s/%s: %w", m.Namespace, m.Name, err)
	}
	a.log.InfoContext(ctx, "created a mirror pod", "pod", m.Namespace+"/"+m.Name)
	created.Status = pod.Status
	if _, err := a.cs.CoreV1().Pods(m.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mirror pod %s/%s: status: %w", m.Namespace, m.Name, err)
	}
	return nil
}

// deleteMirror deletes a mirror pod at once (no grace: nothing runs for
// it).
func (a *Agent) deleteMirror(ctx context.Context, m *corev1.Pod) error {
	err := a.cs.CoreV1().Pods(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &m.UID},
	})
	if err == nil {
		a.log.InfoContext(ctx, "deleted a mirror pod", "pod", m.Namespace+"/"+m.Name)
	}
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return fmt.Errorf("deleting mirror pod %s/%s: %w", m.Namespace, m.Name, err)
}

// getNodeUID returns the UID of the agent's Node, read once.
func (a *Agent) getNodeUID(ctx context.Context) (types.UID, error) {
	if uid, ok := a.nodeUID.Load().(types.UID); ok && uid != "" {
		return uid, nil
	}
	node, err := a.cs.CoreV1().Nodes().Get(ctx, a.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading node %q: %w", a.opts.NodeName, err)
	}
	a.nodeUID.Store(node.UID)
	return node.UID, nil
}
