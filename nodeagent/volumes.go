package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/runtime"
)

// The directories of the volume kinds under pods/<uid>/volumes, named as
// the kubelet names them.
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginDownwardAPI = "kubernetes.io~downward-api"
	pluginProjected   = "kubernetes.io~projected"
)

// DefaultRootDir is where a node agent keeps its pods' volumes when
// Options.RootDir is empty: /var/lib/gantry/nodeagent/<node> for root, and
// a directory under the system's temporary directory otherwise.
func DefaultRootDir(nodeName string) string {
	if os.Geteuid() == 0 {
		return filepath.Join("/var/lib/gantry/nodeagent", nodeName)
	}
	return filepath.Join(os.TempDir(), "gantry-nodeagent-"+strconv.Itoa(os.Geteuid()), nodeName)
}

// volumeManager keeps the volumes of the node's pods on disk, under
// <root>/pods/<uid>: volumes/<plugin>/<name> for each volume the agent
// makes, volume-subpaths/ for subPath bind mounts, and a lock file. It is
// safe for concurrent use; the set-up and tear-down of one pod are
// serialized.
//
// A pod directory is locked (flock) while this agent keeps it, so that two
// agents mistakenly given the same root directory (test clusters whose
// nodes share names) never remove each other's pods.
type volumeManager struct {
	root     string
	cs       kubernetes.Interface
	clock    clock.PassiveClock
	log      *slog.Logger
	capacity corev1.ResourceList // the node's: unset limits in resourceFieldRef
	tokens   *tokenManager
	objects  *objectCache

	mu   sync.Mutex
	pods map[types.UID]*podDir
}

// podDir is one pod's directory as this agent holds it.
type podDir struct {
	// mu serializes set-up and tear-down. It is taken before
	// volumeManager.mu, never while holding it.
	mu   sync.Mutex
	lock *os.File // nil until the directory is made (or after tear-down)
	// ready: every volume was set up once; later refreshes may read
	// cached config maps and secrets.
	ready bool
}

// newVolumeManager returns a manager keeping volumes under root that reads
// config maps and secrets at most once per refresh (the sync interval).
func newVolumeManager(root string, cs kubernetes.Interface, clk clock.PassiveClock, log *slog.Logger, capacity corev1.ResourceList, refresh time.Duration) *volumeManager {
	return &volumeManager{
		root: root, cs: cs, clock: clk, log: log, capacity: capacity,
		tokens:  newTokenManager(cs, clk),
		objects: newObjectCache(clk, refresh),
		pods:    map[types.UID]*podDir{},
	}
}

// release releases the pod directories' locks when the agent stops (the
// directories stay: a restarted agent adopts them).
func (m *volumeManager) release() {
	// Lock order: a podDir's mu before m.mu, never the other way.
	m.mu.Lock()
	held := m.pods
	m.pods = map[types.UID]*podDir{}
	m.mu.Unlock()
	for _, d := range held {
		d.mu.Lock()
		if d.lock != nil {
			d.lock.Close()
			d.lock = nil
		}
		d.mu.Unlock()
	}
}

func (m *volumeManager) podPath(uid types.UID) string {
	return filepath.Join(m.root, "pods", string(uid))
}

func (m *volumeManager) volumePath(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podPath(uid), "volumes", plugin, name)
}

// acquire returns the pod's directory locked for set-up: made, and this
// agent's lock on it held.
func (m *volumeManager) acquire(uid types.UID) (*podDir, error) {
	var d *podDir
	for {
		m.mu.Lock()
		d = m.pods[uid]
		if d == nil {
			d = &podDir{}
			m.pods[uid] = d
		}
		m.mu.Unlock()
		d.mu.Lock()
		m.mu.Lock()
		current := m.pods[uid] == d
		m.mu.Unlock()
		if current {
			break
		}
		// Torn down while we waited: start again with a new entry.
		d.mu.Unlock()
	}
	if d.lock != nil {
		return d, nil
	}
	dir := m.podPath(uid)
	// The root is private: secrets live below it.
	if err := os.MkdirAll(m.root, 0o750); err != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("volume root: %w", err)
	}
	for range 3 {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("pod directory: %w", err)
		}
		f, err := lockFile(filepath.Join(dir, "lock"))
		if err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("pod directory %s: %w", dir, err)
		}
		// A sweeper may have removed the directory between MkdirAll and
		// the lock: then lock again the file that is there now.
		fi, err1 := f.Stat()
		cur, err2 := os.Stat(filepath.Join(dir, "lock"))
		if err1 == nil && err2 == nil && os.SameFile(fi, cur) {
			d.lock = f
			return d, nil
		}
		f.Close()
	}
	d.mu.Unlock()
	return nil, fmt.Errorf("pod directory %s: removed while being locked", dir)
}

// setUp makes the pod's volumes ready and refreshes the content of its
// configMap, secret, downwardAPI and projected volumes, each swapped in
// atomically when it changed. It returns the host path of each volume that
// can be mounted, and the errors of the others; a volume whose refresh
// failed but that was set up before keeps its old content and its path.
func (m *volumeManager) setUp(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	paths := make(map[string]string, len(pod.Spec.Volumes))
	if len(pod.Spec.Volumes) == 0 {
		return paths, nil
	}
	d, err := m.acquire(pod.UID)
	if err != nil {
		return paths, err
	}
	defer d.mu.Unlock()
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setUpVolume(ctx, pod, v, !d.ready)
		if p != "" {
			paths[v.Name] = p
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", v.Name, err))
		}
	}
	d.ready = d.ready || len(errs) == 0
	return paths, errors.Join(errs...)
}

// setUpVolume makes one volume ready; fresh reads its config maps and
// secrets from the API server, not the cache.
func (m *volumeManager) setUpVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, fresh bool) (string, error) {
	src := &v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		return m.emptyDir(pod, v.Name, src.EmptyDir)
	case src.HostPath != nil:
		if err := checkHostPath(src.HostPath.Path, ptr.Deref(src.HostPath.Type, corev1.HostPathUnset)); err != nil {
			return "", err
		}
		return src.HostPath.Path, nil
	case src.ConfigMap != nil:
		files, err := m.configMapFiles(ctx, pod, src.ConfigMap, fresh)
		return m.writeVolume(pod, pluginConfigMap, v.Name, files, err)
	case src.Secret != nil:
		files, err := m.secretFiles(ctx, pod, src.Secret, fresh)
		return m.writeVolume(pod, pluginSecret, v.Name, files, err)
	case src.DownwardAPI != nil:
		files := map[string]volumeFile{}
		err := m.downwardAPIFiles(pod, src.DownwardAPI.Items, src.DownwardAPI.DefaultMode, files)
		return m.writeVolume(pod, pluginDownwardAPI, v.Name, files, err)
	case src.Projected != nil:
		files, err := m.projectedFiles(ctx, pod, src.Projected, fresh)
		return m.writeVolume(pod, pluginProjected, v.Name, files, err)
	}
	return "", fmt.Errorf("volume type %s is not supported by this node agent", volumeKind(src))
}

// volumeKind names the kind of a volume source for messages, by its JSON
// field name (persistentVolumeClaim, nfs, csi, ...).
func volumeKind(src *corev1.VolumeSource) string {
	v := reflect.ValueOf(src).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "(none)"
}

// emptyDir makes an emptyDir volume: a directory every user of the pod
// may write, on a tmpfs when its medium is Memory and the agent may mount
// (limited to sizeLimit). On disk, sizeLimit is not enforced.
func (m *volumeManager) emptyDir(pod *corev1.Pod, name string, src *corev1.EmptyDirVolumeSource) (string, error) {
	dir := m.volumePath(pod.UID, pluginEmptyDir, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o777); err != nil { // not subject to the umask
		return "", err
	}
	switch src.Medium {
	case corev1.StorageMediumDefault:
	case corev1.StorageMediumMemory:
		if !canMount() {
			m.log.Debug("memory-backed emptyDir on disk: the agent may not mount", "pod", pod.Namespace+"/"+pod.Name, "volume", name)
			break
		}
		var size int64
		if src.SizeLimit != nil {
			size = src.SizeLimit.Value()
		}
		if err := mountTmpfs(dir, size); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("emptyDir medium %q is not supported", src.Medium)
	}
	return dir, nil
}

// writeVolume writes the files of an API-data volume (or keeps its old
// content when reading them failed with readErr).
func (m *volumeManager) writeVolume(pod *corev1.Pod, plugin, name string, files map[string]volumeFile, readErr error) (string, error) {
	dir := m.volumePath(pod.UID, plugin, name)
	if readErr != nil {
		if _, err := os.Lstat(filepath.Join(dir, dataDirName)); err == nil {
			return dir, readErr // set up before: keep the old content
		}
		return "", readErr
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	changed, err := writeAtomic(dir, files, m.clock.Now())
	if err != nil {
		return "", fmt.Errorf("writing the volume: %w", err)
	}
	if changed {
		m.log.Debug("volume content written", "pod", pod.Namespace+"/"+pod.Name, "volume", name, "files", len(files))
	}
	return dir, nil
}

// checkHostPath checks (or makes) a hostPath volume's path as its type
// asks. With no type, a missing path is made a directory, as Docker did.
func checkHostPath(path string, typ corev1.HostPathType) error {
	fi, err := os.Stat(path)
	missing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !missing {
		return fmt.Errorf("hostPath %s: %w", path, err)
	}
	mismatch := func(want string) error {
		if missing {
			return fmt.Errorf("hostPath type check failed: %s does not exist (type %s)", path, typ)
		}
		return fmt.Errorf("hostPath type check failed: %s is not a %s", path, want)
	}
	switch typ {
	case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate:
		if missing {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return fmt.Errorf("hostPath %s: %w", path, err)
			}
			return nil
		}
		if typ == corev1.HostPathDirectoryOrCreate && !fi.IsDir() {
			return mismatch("directory")
		}
	case corev1.HostPathDirectory:
		if missing || !fi.IsDir() {
			return mismatch("directory")
		}
	case corev1.HostPathFileOrCreate:
		if missing {
			// The parent must exist, as in Kubernetes.
			f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath %s: %w", path, err)
			}
			return f.Close()
		}
		if !fi.Mode().IsRegular() {
			return mismatch("file")
		}
	case corev1.HostPathFile:
		if missing || !fi.Mode().IsRegular() {
			return mismatch("file")
		}
	case corev1.HostPathSocket:
		if missing || fi.Mode()&fs.ModeSocket == 0 {
			return mismatch("socket")
		}
	case corev1.HostPathCharDev:
		if missing || fi.Mode()&fs.ModeCharDevice == 0 {
			return mismatch("character device")
		}
	case corev1.HostPathBlockDev:
		if missing || fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
			return mismatch("block device")
		}
	default:
		return fmt.Errorf("hostPath %s: unsupported type %q", path, typ)
	}
	return nil
}

// apiDataVolume says whether a volume holds API data, which containers
// always mount read-only.
func apiDataVolume(src *corev1.VolumeSource) bool {
	return src.ConfigMap != nil || src.Secret != nil || src.DownwardAPI != nil || src.Projected != nil
}

// containerMounts are the runtime mounts of a container's volumeMounts,
// given the host paths of the pod's volumes (setUp). A subPath (or a
// subPathExpr, expanded with the container's environment) must stay inside
// its volume: ".." and symlinks leading out are refused. When the agent
// may mount, the checked subPath is bind-mounted to a directory of the pod
// and that is what the runtime mounts, so that a container swapping a path
// component for a symlink afterwards changes nothing.
func (m *volumeManager) containerMounts(pod *corev1.Pod, c *corev1.Container, paths map[string]string, env []runtime.EnvVar) ([]runtime.Mount, error) {
	if len(c.VolumeMounts) == 0 {
		return nil, nil
	}
	sources := make(map[string]*corev1.VolumeSource, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		sources[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i].VolumeSource
	}
	var envMap map[string]string
	mounts := make([]runtime.Mount, 0, len(c.VolumeMounts))
	for i, vm := range c.VolumeMounts {
		src, defined := sources[vm.Name]
		host, ready := paths[vm.Name]
		switch {
		case !defined:
			return nil, fmt.Errorf("volumeMount %q: no volume %q in the pod", vm.MountPath, vm.Name)
		case !ready:
			return nil, fmt.Errorf("volumeMount %q: volume %q is not ready", vm.MountPath, vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			if envMap == nil {
				envMap = make(map[string]string, len(env))
				for _, e := range env {
					envMap[e.Name] = e.Value
				}
			}
			sub = expand(vm.SubPathExpr, envMap)
		}
		if sub != "" {
			var err error
			if host, err = m.subPath(pod.UID, vm.Name, c.Name, i, host, sub); err != nil {
				return nil, fmt.Errorf("volumeMount %q: %w", vm.MountPath, err)
			}
		}
		mounts = append(mounts, runtime.Mount{
			HostPath: host, ContainerPath: vm.MountPath,
			ReadOnly: vm.ReadOnly || apiDataVolume(src),
		})
	}
	return mounts, nil
}

// subPath resolves sub inside the volume at volPath and returns the host
// path to mount.
func (m *volumeManager) subPath(uid types.UID, volume, container string, index int, volPath, sub string) (string, error) {
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q: must be relative", sub)
	}
	if slices.Contains(strings.Split(sub, "/"), "..") {
		return "", fmt.Errorf("subPath %q: %w", sub, errEscapes)
	}
	f, err := openBeneath(volPath, sub)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if canMount() {
		d, err := m.acquire(uid)
		if err != nil {
			return "", err
		}
		defer d.mu.Unlock()
		target := filepath.Join(m.podPath(uid), "volume-subpaths", volume, container, strconv.Itoa(index))
		if err := bindMountFD(f, target); err != nil {
			return "", err
		}
		return target, nil
	}
	return realPath(f)
}

// tearDown removes a pod's volumes: it unmounts what the agent mounted
// below the pod's directory (tmpfs emptyDirs, subPath binds) and removes
// the directory. Nothing is removed while anything is still mounted there,
// so that a failed unmount never lets the removal reach into a host
// directory.
func (m *volumeManager) tearDown(uid types.UID) error {
	m.tokens.forget(uid)
	m.mu.Lock()
	d := m.pods[uid]
	m.mu.Unlock()
	if d == nil {
		return m.removeUnheld(uid)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err := m.removePodDir(uid)
	if err == nil {
		if d.lock != nil {
			d.lock.Close()
			d.lock = nil
		}
		m.mu.Lock()
		if m.pods[uid] == d {
			delete(m.pods, uid)
		}
		m.mu.Unlock()
	}
	return err
}

// removeUnheld removes the directory of a pod this agent does not hold,
// unless another agent holds it.
func (m *volumeManager) removeUnheld(uid types.UID) error {
	dir := m.podPath(uid)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	f, err := lockFile(filepath.Join(dir, "lock"))
	switch {
	case errors.Is(err, errLocked):
		return nil // another agent's
	case errors.Is(err, fs.ErrNotExist):
		// Gone meanwhile.
		return nil
	case err != nil:
		return err
	}
	defer f.Close()
	return m.removePodDir(uid)
}

// removePodDir unmounts everything below a pod's directory and removes it.
func (m *volumeManager) removePodDir(uid types.UID) error {
	dir := m.podPath(uid)
	real, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	mounts, err := mountPointsUnder(real)
	if err != nil {
		return fmt.Errorf("pod %s volumes: %w", uid, err)
	}
	for _, mp := range mounts {
		if err := unmount(mp); err != nil {
			return fmt.Errorf("pod %s volumes: %w", uid, err)
		}
	}
	if mounts, err := mountPointsUnder(real); err != nil || len(mounts) > 0 {
		return fmt.Errorf("pod %s volumes: still mounted: %v (%v)", uid, mounts, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("pod %s volumes: %w", uid, err)
	}
	return nil
}

// sweep removes the volumes of pods that are not live (found at adoption
// after a restart, or left when a pod went while the agent was away).
// live is asked after the directories are listed, so that a pod set up
// meanwhile is seen live.
func (m *volumeManager) sweep(live func() (map[types.UID]bool, error)) error {
	entries, err := os.ReadDir(filepath.Join(m.root, "pods"))
	if errors.Is(err, fs.ErrNotExist) || len(entries) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	m.objects.prune()
	isLive, err := live()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		uid := types.UID(e.Name())
		if !e.IsDir() || isLive[uid] {
			continue
		}
		if err := m.tearDown(uid); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
