package nodeagent_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/nodeagent"
	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// tokenAPI wraps a clientset so that service account token requests are
// answered here (tokens "token-N", valid for the asked lifetime from the
// fake clock) and everything else goes to the API server.
type tokenAPI struct {
	kubernetes.Interface
	clk *clocktesting.FakeClock

	mu     sync.Mutex
	reqs   []authenticationv1.TokenRequest
	issued []time.Time
}

func (c *tokenAPI) CoreV1() typedcorev1.CoreV1Interface { return tokenCore{c.Interface.CoreV1(), c} }

// lastIssued is when the latest token was issued.
func (c *tokenAPI) lastIssued() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.issued[len(c.issued)-1]
}

func (c *tokenAPI) requests() []authenticationv1.TokenRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]authenticationv1.TokenRequest(nil), c.reqs...)
}

type tokenCore struct {
	typedcorev1.CoreV1Interface
	api *tokenAPI
}

func (c tokenCore) ServiceAccounts(ns string) typedcorev1.ServiceAccountInterface {
	return tokenSAs{c.CoreV1Interface.ServiceAccounts(ns), c.api}
}

type tokenSAs struct {
	typedcorev1.ServiceAccountInterface
	api *tokenAPI
}

func (s tokenSAs) CreateToken(_ context.Context, name string, tr *authenticationv1.TokenRequest, _ metav1.CreateOptions) (*authenticationv1.TokenRequest, error) {
	s.api.mu.Lock()
	defer s.api.mu.Unlock()
	tr = tr.DeepCopy()
	tr.Name = name
	s.api.reqs = append(s.api.reqs, *tr.DeepCopy())
	s.api.issued = append(s.api.issued, s.api.clk.Now())
	tr.Status.Token = "token-" + strconv.Itoa(len(s.api.reqs))
	tr.Status.ExpirationTimestamp = metav1.NewTime(s.api.clk.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
	return tr, nil
}

// volumeEnv is an agent on the fake runtime and a fake clock, with the
// container configs the runtime was given.
type volumeEnv struct {
	t    *testing.T
	ctx  context.Context
	cs   kubernetes.Interface
	api  *tokenAPI
	clk  *clocktesting.FakeClock
	root string
	// hostDir is for hostPath volumes; it outlives the agent.
	hostDir string
	sync    time.Duration
	stop    func()
	mu      sync.Mutex
	mount   map[string][]runtime.Mount // by container name, latest
}

func startVolumeEnv(t *testing.T) *volumeEnv {
	t.Helper()
	hostDir := t.TempDir()
	e := &volumeEnv{hostDir: hostDir,
		t: t, ctx: context.Background(), clk: clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		root: t.TempDir(), sync: time.Second, mount: map[string][]runtime.Mount{},
	}
	e.api = &tokenAPI{Interface: apiServer(t), clk: e.clk}
	e.cs = e.api
	e.start()
	t.Cleanup(func() {
		e.stop()
		// The agent leaves its pods' volumes (a restarted one adopts
		// them): unmount what it mounted so that the directory can go.
		require.NoError(t, nodeagent.UnmountAll(e.root))
	})
	return e
}

func (e *volumeEnv) start() {
	rt, err := fake.New(fake.Options{
		Clock: e.clk, Images: []string{"app:1"},
		Behavior: func(_ runtime.Sandbox, c runtime.ContainerConfig) fake.Behavior {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.mount[c.Name] = c.Mounts
			return fake.Behavior{}
		},
	})
	require.NoError(e.t, err)
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "n1", Client: e.cs, Runtime: rt, Clock: e.clk, RootDir: e.root,
		SyncInterval: e.sync, BackOff: 10 * time.Second,
	})
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	e.stop = func() { cancel(); require.NoError(e.t, <-done) }
}

func (e *volumeEnv) mounts(container string) map[string]runtime.Mount {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]runtime.Mount{}
	for _, m := range e.mount[container] {
		out[m.ContainerPath] = m
	}
	return out
}

// eventually polls cond, stepping the fake clock by one sync interval
// before each look, so that periodic syncs and back-offs come due.
func (e *volumeEnv) eventually(what string, cond func() bool) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		e.clk.Step(e.sync)
		return cond()
	}, 20*time.Second, 10*time.Millisecond, what)
}

func (e *volumeEnv) pod(name string) *corev1.Pod {
	p, err := e.cs.CoreV1().Pods("default").Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return p
}

func (e *volumeEnv) running(name string) bool {
	return e.pod(name).Status.Phase == corev1.PodRunning
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(b)
}

func TestVolumesOnFakeRuntime(t *testing.T) {
	e := startVolumeEnv(t)
	ctx := e.ctx
	hostDir := e.hostDir
	_, err := e.cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data:       map[string]string{"app.conf": "v1", "other": "o"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e.cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sec"},
		Data:       map[string][]byte{"password": []byte("hunter2")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "vols", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: "n1", ServiceAccountName: "robot",
			Volumes: []corev1.Volume{
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: "sec", DefaultMode: ptr.To(int32(0o400)),
					Items: []corev1.KeyToPath{{Key: "password", Path: "creds/pw"}},
				}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: filepath.Join(hostDir, "made"), Type: ptr.To(corev1.HostPathDirectoryOrCreate),
				}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
					Items: []corev1.DownwardAPIVolumeFile{
						{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
						{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					},
				}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "api", ExpirationSeconds: ptr.To(int64(3600))}},
						{ConfigMap: &corev1.ConfigMapProjection{
							LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
							Items:                []corev1.KeyToPath{{Key: "app.conf", Path: "conf/app.conf"}},
						}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
							{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
						}}},
					},
				}}},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{
					{Name: "cfg", MountPath: "/etc/app"},
					{Name: "sec", MountPath: "/secrets"},
					{Name: "scratch", MountPath: "/scratch"},
					{Name: "scratch", MountPath: "/sub", SubPath: "a/b"},
					{Name: "host", MountPath: "/host", ReadOnly: true},
					{Name: "info", MountPath: "/info"},
					{Name: "proj", MountPath: "/var/run/secrets/tokens"},
				},
			}},
		},
	}
	_, err = e.cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	e.eventually("the pod runs", func() bool { return e.running("vols") })
	uid := e.pod("vols").UID
	podDir := filepath.Join(e.root, "pods", string(uid))

	m := e.mounts("app")
	require.Len(t, m, 7)
	volDir := func(plugin, name string) string { return filepath.Join(podDir, "volumes", plugin, name) }
	require.Equal(t, runtime.Mount{HostPath: volDir("kubernetes.io~configmap", "cfg"), ContainerPath: "/etc/app", ReadOnly: true}, m["/etc/app"])
	require.Equal(t, runtime.Mount{HostPath: volDir("kubernetes.io~secret", "sec"), ContainerPath: "/secrets", ReadOnly: true}, m["/secrets"])
	require.Equal(t, runtime.Mount{HostPath: volDir("kubernetes.io~empty-dir", "scratch"), ContainerPath: "/scratch"}, m["/scratch"])
	require.Equal(t, runtime.Mount{HostPath: filepath.Join(hostDir, "made"), ContainerPath: "/host", ReadOnly: true}, m["/host"])
	require.True(t, m["/info"].ReadOnly)
	require.True(t, m["/var/run/secrets/tokens"].ReadOnly)

	t.Run("configMap", func(t *testing.T) {
		dir := m["/etc/app"].HostPath
		require.Equal(t, "v1", readFile(filepath.Join(dir, "app.conf")))
		require.Equal(t, "o", readFile(filepath.Join(dir, "other")))
		target, err := os.Readlink(filepath.Join(dir, "app.conf"))
		require.NoError(t, err)
		require.Equal(t, "..data/app.conf", target)
		fi, err := os.Stat(filepath.Join(dir, "app.conf"))
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o644), fi.Mode().Perm())
	})
	t.Run("secret: items and defaultMode, in a private directory", func(t *testing.T) {
		dir := m["/secrets"].HostPath
		require.Equal(t, "hunter2", readFile(filepath.Join(dir, "creds", "pw")))
		fi, err := os.Stat(filepath.Join(dir, "creds", "pw"))
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o400), fi.Mode().Perm())
		for _, d := range []string{filepath.Join(e.root, "pods"), podDir} {
			fi, err := os.Stat(d)
			require.NoError(t, err)
			require.Zero(t, fi.Mode().Perm()&0o007, "%s is closed to others", d)
		}
	})
	t.Run("emptyDir and its subPath", func(t *testing.T) {
		fi, err := os.Stat(m["/scratch"].HostPath)
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o777), fi.Mode().Perm())
		sub, err := os.Stat(m["/sub"].HostPath)
		require.NoError(t, err)
		made, err := os.Stat(filepath.Join(m["/scratch"].HostPath, "a", "b"))
		require.NoError(t, err, "the subPath is made in the volume")
		require.True(t, os.SameFile(sub, made))
	})
	t.Run("hostPath DirectoryOrCreate", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(hostDir, "made"))
		require.NoError(t, err)
		require.True(t, fi.IsDir())
	})
	t.Run("downwardAPI", func(t *testing.T) {
		dir := m["/info"].HostPath
		require.Equal(t, "vols", readFile(filepath.Join(dir, "name")))
		require.Equal(t, `app="web"`, readFile(filepath.Join(dir, "labels")))
	})
	t.Run("projected with a bound service account token", func(t *testing.T) {
		dir := m["/var/run/secrets/tokens"].HostPath
		require.Equal(t, "token-1", readFile(filepath.Join(dir, "token")))
		require.Equal(t, "v1", readFile(filepath.Join(dir, "conf", "app.conf")))
		require.Equal(t, "default", readFile(filepath.Join(dir, "namespace")))
		reqs := e.api.requests()
		require.Len(t, reqs, 1)
		require.Equal(t, "robot", reqs[0].Name)
		require.Equal(t, []string{"api"}, reqs[0].Spec.Audiences)
		require.Equal(t, &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "vols", UID: uid}, reqs[0].Spec.BoundObjectRef)
	})

	t.Run("updates reach every volume of the source at once", func(t *testing.T) {
		cm, err := e.cs.CoreV1().ConfigMaps("default").Get(ctx, "cfg", metav1.GetOptions{})
		require.NoError(t, err)
		cm.Data = map[string]string{"app.conf": "v2", "added": "new"}
		_, err = e.cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
		require.NoError(t, err)
		dir := m["/etc/app"].HostPath
		e.eventually("the config map update", func() bool {
			return readFile(filepath.Join(dir, "app.conf")) == "v2" &&
				readFile(filepath.Join(m["/var/run/secrets/tokens"].HostPath, "conf", "app.conf")) == "v2"
		})
		require.Equal(t, "new", readFile(filepath.Join(dir, "added")))
		_, err = os.Lstat(filepath.Join(dir, "other"))
		require.ErrorIs(t, err, fs.ErrNotExist, "a removed key disappears")
	})

	t.Run("a label change reaches the downwardAPI volume", func(t *testing.T) {
		p := e.pod("vols")
		p.Labels["tier"] = "front"
		_, err := e.cs.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err)
		e.eventually("the labels file", func() bool {
			return readFile(filepath.Join(m["/info"].HostPath, "labels")) == "app=\"web\"\ntier=\"front\""
		})
	})

	t.Run("the token is rewritten after 80% of its lifetime", func(t *testing.T) {
		tokenFile := filepath.Join(m["/var/run/secrets/tokens"].HostPath, "token")
		first := readFile(tokenFile)
		require.Len(t, e.api.requests(), 1)
		// 80% of an hour is 48 minutes; the syncs before then keep it.
		e.clk.SetTime(e.api.lastIssued().Add(47 * time.Minute))
		require.Never(t, func() bool { return readFile(tokenFile) != first }, 200*time.Millisecond, 20*time.Millisecond)
		e.eventually("a new token", func() bool { return readFile(tokenFile) != first })
		require.Len(t, e.api.requests(), 2)
	})

	t.Run("a deleted pod's volumes are removed", func(t *testing.T) {
		require.NoError(t, e.cs.CoreV1().Pods("default").Delete(ctx, "vols", metav1.DeleteOptions{}))
		e.eventually("the pod directory to go", func() bool {
			_, err := os.Stat(podDir)
			return errors.Is(err, fs.ErrNotExist)
		})
		_, err := os.Stat(filepath.Join(hostDir, "made"))
		require.NoError(t, err, "a hostPath stays")
	})
}

func TestVolumeSourcesMissing(t *testing.T) {
	e := startVolumeEnv(t)
	ctx := e.ctx
	pods := e.cs.CoreV1().Pods("default")
	cmVolume := func(name string, opt bool) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Optional: ptr.To(opt),
		}}}
	}
	podWith := func(name string, v corev1.Volume) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: "n1", Volumes: []corev1.Volume{v}, Containers: []corev1.Container{{
				Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{{Name: v.Name, MountPath: "/v"}},
			}}},
		}
	}

	t.Run("a missing optional source gives an empty volume", func(t *testing.T) {
		_, err := pods.Create(ctx, podWith("optional", cmVolume("absent", true)), metav1.CreateOptions{})
		require.NoError(t, err)
		e.eventually("the pod runs", func() bool { return e.running("optional") })
		entries, err := os.ReadDir(e.mounts("app")["/v"].HostPath)
		require.NoError(t, err)
		for _, en := range entries {
			require.True(t, strings.HasPrefix(en.Name(), ".."), "only ..data and its directory: %s", en.Name())
		}
		require.NoError(t, pods.Delete(ctx, "optional", metav1.DeleteOptions{}))
	})

	t.Run("a missing source the pod needs makes it wait, then start", func(t *testing.T) {
		_, err := pods.Create(ctx, podWith("needs", cmVolume("later", false)), metav1.CreateOptions{})
		require.NoError(t, err)
		e.eventually("the pod to wait for its volume", func() bool {
			cs := e.pod("needs").Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ContainerCreating" &&
				strings.Contains(cs[0].State.Waiting.Message, `MountVolume.SetUp failed for volume "later": configmap "later" not found`)
		})
		require.Equal(t, corev1.PodPending, e.pod("needs").Status.Phase)
		e.eventually("a FailedMount event", func() bool {
			evs, err := e.cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
			require.NoError(t, err)
			for _, ev := range evs.Items {
				if ev.InvolvedObject.Name == "needs" && ev.Reason == "FailedMount" && ev.Type == corev1.EventTypeWarning &&
					strings.Contains(ev.Message, `configmap "later" not found`) {
					return true
				}
			}
			return false
		})
		_, err = e.cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "later"}, Data: map[string]string{"k": "here"},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		e.eventually("the pod runs once the config map exists", func() bool { return e.running("needs") })
		require.Equal(t, "here", readFile(filepath.Join(e.mounts("app")["/v"].HostPath, "k")))
	})

	t.Run("a missing key an item names makes the pod wait", func(t *testing.T) {
		v := cmVolume("later", false)
		v.ConfigMap.Items = []corev1.KeyToPath{{Key: "nokey", Path: "x"}}
		_, err := pods.Create(ctx, podWith("nokey", v), metav1.CreateOptions{})
		require.NoError(t, err)
		e.eventually("the pod to wait for the key", func() bool {
			cs := e.pod("nokey").Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && strings.Contains(cs[0].State.Waiting.Message, `configmap "later" has no key "nokey"`)
		})
	})

	t.Run("a subPath leading out of its volume through a symlink is refused", func(t *testing.T) {
		hostDir := filepath.Join(e.hostDir, "escape-test")
		require.NoError(t, os.Mkdir(hostDir, 0o755))
		require.NoError(t, os.Symlink("/etc", filepath.Join(hostDir, "escape")))
		p := podWith("escape", corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}})
		p.Spec.Containers[0].VolumeMounts[0].SubPath = "escape/passwd"
		_, err := pods.Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
		e.eventually("the container to be refused", func() bool {
			cs := e.pod("escape").Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CreateContainerConfigError" &&
				strings.Contains(cs[0].State.Waiting.Message, "leads outside the volume")
		})
	})

	t.Run("a hostPath of the wrong type makes the pod wait", func(t *testing.T) {
		p := podWith("hosttype", corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: "/dev/null", Type: ptr.To(corev1.HostPathDirectory),
		}}})
		_, err := pods.Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
		e.eventually("the pod to wait", func() bool {
			cs := e.pod("hosttype").Status.ContainerStatuses
			return len(cs) == 1 && cs[0].State.Waiting != nil && strings.Contains(cs[0].State.Waiting.Message, "/dev/null is not a directory")
		})
	})
}

// TestOrphanedVolumesRemoved: the volumes of a pod that went while the agent
// was away are removed once the agent runs again, except those another
// agent holds.
func TestOrphanedVolumesRemoved(t *testing.T) {
	e := startVolumeEnv(t)
	orphan := filepath.Join(e.root, "pods", "orphan-uid", "volumes", "kubernetes.io~empty-dir", "data")
	require.NoError(t, os.MkdirAll(orphan, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(orphan, "f"), []byte("x"), 0o644))
	e.eventually("the orphan to go", func() bool {
		_, err := os.Stat(filepath.Join(e.root, "pods", "orphan-uid"))
		return errors.Is(err, fs.ErrNotExist)
	})
}

// TestServiceAccountTokenVolume: on an API server with RBAC, the node
// authorizer and service accounts, the token volume the admission plugin
// gives a pod is filled by the agent, acting as its node, with a token the
// API server accepts as the pod's service account.
func TestServiceAccountTokenVolume(t *testing.T) {
	srv := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC(), apiservertest.WithServiceAccounts())
	admin, err := kubernetes.NewForConfig(srv.ConfigFor("admin", "system:masters"))
	require.NoError(t, err)
	nodeClient, err := kubernetes.NewForConfig(srv.ConfigFor("system:node:n1", "system:nodes"))
	require.NoError(t, err)
	ctx := context.Background()
	// No controllers run here: the account and the CA bundle are made by hand.
	_, err = admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = admin.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "the CA"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	var mu sync.Mutex
	var mounts []runtime.Mount
	rt, err := fake.New(fake.Options{Images: []string{"app:1"}, Behavior: func(_ runtime.Sandbox, c runtime.ContainerConfig) fake.Behavior {
		mu.Lock()
		defer mu.Unlock()
		mounts = c.Mounts
		return fake.Behavior{}
	}})
	require.NoError(t, err)
	root := t.TempDir()
	agent, err := nodeagent.New(nodeagent.Options{
		NodeName: "n1", Client: nodeClient, Runtime: rt, RootDir: root, SyncInterval: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- agent.Run(runCtx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done); require.NoError(t, nodeagent.UnmountAll(root)) })

	_, err = admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "client"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Image: "app:1", ImagePullPolicy: corev1.PullNever,
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	waitFor(t, "the pod to run", 20*time.Second, func() (bool, error) {
		p, err := admin.CoreV1().Pods("default").Get(ctx, "client", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning, errors.New(string(p.Status.Phase))
	})
	mu.Lock()
	var dir string
	for _, m := range mounts {
		if m.ContainerPath == "/var/run/secrets/kubernetes.io/serviceaccount" {
			dir = m.HostPath
			require.True(t, m.ReadOnly)
		}
	}
	mu.Unlock()
	require.NotEmpty(t, dir, "the token volume is mounted")
	require.Equal(t, "the CA", readFile(filepath.Join(dir, "ca.crt")))
	require.Equal(t, "default", readFile(filepath.Join(dir, "namespace")))

	review, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: readFile(filepath.Join(dir, "token"))},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, review.Status.Authenticated, review.Status.Error)
	require.Equal(t, "system:serviceaccount:default:default", review.Status.User.Username)
	require.Equal(t, authenticationv1.ExtraValue{"client"}, review.Status.User.Extra["authentication.kubernetes.io/pod-name"])
}
