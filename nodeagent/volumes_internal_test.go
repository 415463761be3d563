package nodeagent

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// readVolume reads every file of a volume directory, checking that each
// user-visible name is a symlink through ..data.
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		require.NoError(t, err, "%s is a symlink", e.Name())
		require.Equal(t, filepath.Join(dataDirName, e.Name()), target)
	}
	out := map[string]string{}
	data := filepath.Join(dir, dataDirName) + "/"
	require.NoError(t, filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(data, p)
		if err != nil {
			return err
		}
		// Read through the user-visible name.
		b, err := os.ReadFile(filepath.Join(dir, rel))
		out[rel] = string(b)
		return err
	}))
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	clk := clocktesting.NewFakeClock(t0)
	files := map[string]volumeFile{
		"a":     {data: []byte("1"), mode: 0o644},
		"d/b":   {data: []byte("2"), mode: 0o600},
		"d/e/c": {data: []byte("3"), mode: 0o644},
	}
	changed, err := writeAtomic(dir, files, clk.Now())
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, map[string]string{"a": "1", "d/b": "2", "d/e/c": "3"}, readVolume(t, dir))
	first, err := os.Readlink(filepath.Join(dir, dataDirName))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(first, "..2026_01_01_00_00_00."), first)
	fi, err := os.Stat(filepath.Join(dir, "d/b"))
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())

	t.Run("unchanged content writes nothing", func(t *testing.T) {
		changed, err := writeAtomic(dir, files, clk.Now())
		require.NoError(t, err)
		require.False(t, changed)
		cur, _ := os.Readlink(filepath.Join(dir, dataDirName))
		require.Equal(t, first, cur)
	})

	t.Run("an update swaps ..data and drops gone names and the old directory", func(t *testing.T) {
		// A reader holding the old directory open sees the old set whole.
		old, err := os.Open(filepath.Join(dir, first))
		require.NoError(t, err)
		defer old.Close()
		clk.Step(time.Minute)
		changed, err := writeAtomic(dir, map[string]volumeFile{
			"a": {data: []byte("one"), mode: 0o644},
			"z": {data: []byte("new"), mode: 0o644},
		}, clk.Now())
		require.NoError(t, err)
		require.True(t, changed)
		require.Equal(t, map[string]string{"a": "one", "z": "new"}, readVolume(t, dir))
		_, err = os.Lstat(filepath.Join(dir, "d"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = os.Stat(filepath.Join(dir, first))
		require.ErrorIs(t, err, fs.ErrNotExist, "the old timestamped directory is removed")
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		require.Len(t, names, 4, "..data, one timestamped directory, a, z: %v", names)
	})

	t.Run("a mode change alone is written", func(t *testing.T) {
		changed, err := writeAtomic(dir, map[string]volumeFile{
			"a": {data: []byte("one"), mode: 0o400},
			"z": {data: []byte("new"), mode: 0o644},
		}, clk.Now())
		require.NoError(t, err)
		require.True(t, changed)
	})

	t.Run("paths that would leave the volume are refused", func(t *testing.T) {
		for _, p := range []string{"../x", "a/../../x", "/etc/passwd", "..data", "..x", "", "a//b", "./a"} {
			_, err := writeAtomic(dir, map[string]volumeFile{p: {data: []byte("x"), mode: 0o644}}, clk.Now())
			require.Error(t, err, p)
		}
		_, err := writeAtomic(dir, map[string]volumeFile{"f": {}, "f/g": {}}, clk.Now())
		require.ErrorContains(t, err, "conflicts")
		require.Equal(t, map[string]string{"a": "one", "z": "new"}, readVolume(t, dir), "nothing changed")
	})
}

func TestDivideRoundUp(t *testing.T) {
	for _, tc := range []struct{ q, d, want string }{
		{"250m", "1", "1"},
		{"250m", "1m", "250"},
		{"2", "1", "2"},
		{"1500m", "1", "2"},
		{"128Mi", "1Mi", "128"},
		{"128Mi", "1", "134217728"},
		{"1G", "1Mi", "954"},
		{"0", "1", "0"},
	} {
		require.Equal(t, tc.want, divideRoundUp(resource.MustParse(tc.q), resource.MustParse(tc.d)), "%s / %s", tc.q, tc.d)
	}
}

func TestVolumeField(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "p", Namespace: "ns", UID: "u-1",
		Labels:      map[string]string{"b": "2", "a": "1"},
		Annotations: map[string]string{"note": `say "hi"`},
	}}
	for path, want := range map[string]string{
		"metadata.name":                  "p",
		"metadata.namespace":             "ns",
		"metadata.uid":                   "u-1",
		"metadata.labels":                "a=\"1\"\nb=\"2\"",
		"metadata.annotations":           `note="say \"hi\""`,
		"metadata.labels['a']":           "1",
		"metadata.annotations['note']":   `say "hi"`,
		"metadata.annotations['absent']": "",
	} {
		got, err := volumeField(pod, path)
		require.NoError(t, err, path)
		require.Equal(t, want, got, path)
	}
	_, err := volumeField(pod, "spec.nodeName")
	require.ErrorContains(t, err, "unsupported")
}

func TestResourceField(t *testing.T) {
	m := &volumeManager{capacity: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
	}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
	}}}}
	for _, tc := range []struct{ resource, divisor, want string }{
		{"requests.cpu", "1m", "250"},
		{"requests.cpu", "", "1"},
		{"limits.cpu", "", "4"}, // unset: the node's capacity
		{"limits.memory", "1Mi", "64"},
		{"requests.memory", "1Mi", "64"}, // unset: the limit
		{"limits.memory", "", "67108864"},
	} {
		ref := &corev1.ResourceFieldSelector{ContainerName: "c", Resource: tc.resource}
		if tc.divisor != "" {
			ref.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := m.resourceField(pod, ref)
		require.NoError(t, err, tc.resource)
		require.Equal(t, tc.want, got, "%s / %s", tc.resource, tc.divisor)
	}
	_, err := m.resourceField(pod, &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"})
	require.ErrorContains(t, err, `no container "nope"`)
}

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })

	for _, tc := range []struct {
		path    string
		typ     corev1.HostPathType
		wantErr string
	}{
		{dir, corev1.HostPathUnset, ""},
		{filepath.Join(dir, "made-untyped"), corev1.HostPathUnset, ""},
		{dir, corev1.HostPathDirectory, ""},
		{file, corev1.HostPathDirectory, "is not a directory"},
		{filepath.Join(dir, "absent"), corev1.HostPathDirectory, "does not exist"},
		{filepath.Join(dir, "made-dir"), corev1.HostPathDirectoryOrCreate, ""},
		{file, corev1.HostPathDirectoryOrCreate, "is not a directory"},
		{file, corev1.HostPathFile, ""},
		{dir, corev1.HostPathFile, "is not a file"},
		{filepath.Join(dir, "made-file"), corev1.HostPathFileOrCreate, ""},
		{filepath.Join(dir, "no-parent", "f"), corev1.HostPathFileOrCreate, "no such file"},
		{sock, corev1.HostPathSocket, ""},
		{file, corev1.HostPathSocket, "is not a socket"},
		{"/dev/null", corev1.HostPathCharDev, ""},
		{file, corev1.HostPathCharDev, "is not a character device"},
		{"/dev/null", corev1.HostPathBlockDev, "is not a block device"},
		{dir, "Weird", "unsupported type"},
	} {
		t.Run(string(tc.typ)+" "+filepath.Base(tc.path), func(t *testing.T) {
			err := checkHostPath(tc.path, tc.typ)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
	fi, err := os.Stat(filepath.Join(dir, "made-dir"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	fi, err = os.Stat(filepath.Join(dir, "made-file"))
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular())
}

func TestSubPathStaysInsideTheVolume(t *testing.T) {
	root := t.TempDir()
	m := newVolumeManager(root, fake.NewClientset(), clocktesting.NewFakeClock(t0), slog.Default(), nil, time.Second)
	vol := filepath.Join(root, "vol")
	outside := filepath.Join(root, "outside")
	require.NoError(t, os.MkdirAll(filepath.Join(vol, "in", "deep"), 0o755))
	require.NoError(t, os.MkdirAll(outside, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(vol, "in", "f"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink("/etc", filepath.Join(vol, "abs")))
	require.NoError(t, os.Symlink("../outside", filepath.Join(vol, "rel")))
	require.NoError(t, os.Symlink("in/deep", filepath.Join(vol, "inner")))
	t.Cleanup(func() { require.NoError(t, m.tearDown("u")) })

	for _, sub := range []string{"..", "../outside", "in/../../outside", "abs", "abs/passwd", "rel", "rel/x", "/etc"} {
		_, err := m.subPath("u", "v", "c", 0, vol, sub)
		require.Error(t, err, sub)
	}
	for sub, want := range map[string]string{
		"in":          filepath.Join(vol, "in"),
		"in/f":        filepath.Join(vol, "in", "f"),
		"inner":       filepath.Join(vol, "in", "deep"),
		"made/on/use": filepath.Join(vol, "made", "on", "use"),
	} {
		got, err := m.subPath("u", "v", "c", 0, vol, sub)
		require.NoError(t, err, sub)
		if !canMount() {
			require.Equal(t, want, got, sub)
			continue
		}
		// Bind-mounted to the pod's directory: the same file.
		a, err := os.Stat(got)
		require.NoError(t, err)
		b, err := os.Stat(want)
		require.NoError(t, err)
		require.True(t, os.SameFile(a, b), "%s: %s is %s", sub, got, want)
	}
	_, err := os.Stat(filepath.Join(outside, "x"))
	require.ErrorIs(t, err, fs.ErrNotExist, "nothing made outside")
}

// tokenClient is a fake clientset whose TokenRequest reactor issues tokens
// "tok-N" valid for the asked lifetime from the fake clock, and records the
// requests.
func tokenClient(clk *clocktesting.FakeClock, fail *atomic.Bool) (*fake.Clientset, *[]*authenticationv1.TokenRequest) {
	cs := fake.NewClientset()
	var reqs []*authenticationv1.TokenRequest
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
		ca, ok := a.(k8stesting.CreateAction)
		if !ok || a.GetSubresource() != "token" {
			return false, nil, nil
		}
		if fail != nil && fail.Load() {
			return true, nil, errors.New("token service down")
		}
		tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		reqs = append(reqs, tr.DeepCopy())
		tr.Status.Token = "tok-" + strconv.Itoa(len(reqs))
		tr.Status.ExpirationTimestamp = metav1.NewTime(clk.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
		return true, tr, nil
	})
	return cs, &reqs
}

func TestTokenRotation(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var fail atomic.Bool
	cs, reqs := tokenClient(clk, &fail)
	m := newTokenManager(cs, clk)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
		Spec:       corev1.PodSpec{ServiceAccountName: "robot"},
	}
	proj := &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: ptr.To(int64(1000))}
	ctx := context.Background()

	tok, err := m.token(ctx, pod, proj)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.Len(t, *reqs, 1)
	r := (*reqs)[0]
	require.Equal(t, []string{"vault"}, r.Spec.Audiences)
	require.Equal(t, int64(1000), *r.Spec.ExpirationSeconds)
	require.Equal(t, &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: "uid-1"}, r.Spec.BoundObjectRef)

	clk.Step(799 * time.Second) // before 80% of 1000s: the same token
	tok, err = m.token(ctx, pod, proj)
	require.NoError(t, err)
	require.Equal(t, "tok-1", tok)
	require.Len(t, *reqs, 1)

	clk.Step(time.Second) // 80%: a new one
	tok, err = m.token(ctx, pod, proj)
	require.NoError(t, err)
	require.Equal(t, "tok-2", tok)

	// A failed renewal keeps the valid old token ...
	fail.Store(true)
	clk.Step(900 * time.Second)
	tok, err = m.token(ctx, pod, proj)
	require.NoError(t, err)
	require.Equal(t, "tok-2", tok)
	// ... until it expires.
	clk.Step(100 * time.Second)
	_, err = m.token(ctx, pod, proj)
	require.ErrorContains(t, err, `service account "robot": requesting a token: token service down`)
	fail.Store(false)

	t.Run("long-lived tokens are renewed after 24h", func(t *testing.T) {
		long := &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To(int64(7 * 24 * 3600))}
		first, err := m.token(ctx, pod, long)
		require.NoError(t, err)
		require.Nil(t, (*reqs)[len(*reqs)-1].Spec.Audiences, "the API server's audiences")
		clk.Step(24*time.Hour - time.Second)
		tok, err := m.token(ctx, pod, long)
		require.NoError(t, err)
		require.Equal(t, first, tok)
		clk.Step(time.Second)
		tok, err = m.token(ctx, pod, long)
		require.NoError(t, err)
		require.NotEqual(t, first, tok)
	})

	t.Run("forget drops the pod's tokens", func(t *testing.T) {
		n := len(*reqs)
		m.forget(pod.UID)
		_, err := m.token(ctx, pod, proj)
		require.NoError(t, err)
		require.Len(t, *reqs, n+1)
	})

	t.Run("the default service account and lifetime", func(t *testing.T) {
		p := pod.DeepCopy()
		p.Spec.ServiceAccountName = ""
		p.UID = "uid-2"
		_, err := m.token(ctx, p, &corev1.ServiceAccountTokenProjection{Path: "t"})
		require.NoError(t, err)
		last := cs.Actions()[len(cs.Actions())-1]
		require.Equal(t, "default", nameOf(last))
		require.Equal(t, int64(3600), *(*reqs)[len(*reqs)-1].Spec.ExpirationSeconds)
	})
}

// nameOf is the name a create action of a subresource targets.
func nameOf(a k8stesting.Action) string {
	if ca, ok := a.(k8stesting.CreateActionImpl); ok {
		return ca.Name
	}
	return ""
}

func TestObjectCache(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	c := newObjectCache(clk, 10*time.Second)
	calls := 0
	fetch := func(context.Context) (map[string][]byte, bool, error) {
		calls++
		return map[string][]byte{"n": []byte(strconv.Itoa(calls))}, true, nil
	}
	key := objectKey{"configmap", "ns", "cm"}
	ctx := context.Background()
	get := func(fresh bool) string {
		t.Helper()
		data, found, err := c.get(ctx, key, fresh, fetch)
		require.NoError(t, err)
		require.True(t, found)
		return string(data["n"])
	}
	require.Equal(t, "1", get(false))
	clk.Step(9 * time.Second)
	require.Equal(t, "1", get(false), "cached")
	require.Equal(t, "2", get(true), "a fresh read asks again")
	clk.Step(10 * time.Second)
	require.Equal(t, "3", get(false), "expired")
	_, _, err := c.get(ctx, objectKey{"secret", "ns", "s"}, false, func(context.Context) (map[string][]byte, bool, error) {
		return nil, false, errors.New("down")
	})
	require.ErrorContains(t, err, "down")
	clk.Step(20 * time.Second)
	c.prune()
	require.Empty(t, c.objects)
}

// TestTearDownLeavesOtherAgentsPods: a pod directory another agent holds
// (locked) survives a sweep; an unheld orphan goes; a live pod stays.
func TestTearDownLeavesOtherAgentsPods(t *testing.T) {
	root := t.TempDir()
	clk := clocktesting.NewFakeClock(t0)
	mine := newVolumeManager(root, fake.NewClientset(), clk, slog.Default(), nil, time.Second)
	other := newVolumeManager(root, fake.NewClientset(), clk, slog.Default(), nil, time.Second)
	pod := func(uid string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: uid, Namespace: "ns", UID: types.UID(uid)},
			Spec:       corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		}
	}
	ctx := context.Background()
	for _, m := range []struct {
		m   *volumeManager
		uid string
	}{{mine, "live"}, {mine, "gone"}, {other, "others"}} {
		paths, err := m.m.setUp(ctx, pod(m.uid))
		require.NoError(t, err)
		require.Len(t, paths, 1)
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "pods", "crashed", "volumes"), 0o750))

	require.NoError(t, mine.sweep(func() (map[types.UID]bool, error) { return map[types.UID]bool{"live": true}, nil }))
	exists := func(uid string) bool {
		_, err := os.Stat(filepath.Join(root, "pods", uid))
		return err == nil
	}
	require.True(t, exists("live"))
	require.False(t, exists("gone"))
	require.False(t, exists("crashed"), "an unlocked leftover goes")
	require.True(t, exists("others"), "another agent's pod stays")

	// Once the other agent lets go, it is an orphan like any other.
	other.release() // as a stopping agent does
	require.NoError(t, mine.sweep(func() (map[types.UID]bool, error) { return map[types.UID]bool{"live": true}, nil }))
	require.False(t, exists("others"))
	require.NoError(t, mine.tearDown("live"))
	require.False(t, exists("live"))
}

func TestUnsupportedVolumeKind(t *testing.T) {
	m := newVolumeManager(t.TempDir(), fake.NewClientset(), clocktesting.NewFakeClock(t0), slog.Default(), nil, time.Second)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}},
			{Name: "ok", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}},
	}
	paths, err := m.setUp(context.Background(), pod)
	require.ErrorContains(t, err, `MountVolume.SetUp failed for volume "claim": volume type persistentVolumeClaim is not supported by this node agent`)
	require.Equal(t, []string{"ok"}, slices.Collect(maps.Keys(paths)), "the other volumes are set up")
	require.NoError(t, m.tearDown("u"))
}
