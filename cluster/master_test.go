package cluster_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/pki"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
)

// runMaster starts a master with cfg and waits until it is ready. stop
// cancels it and returns what Run returned; the test's cleanup stops it too.
func runMaster(t *testing.T, cfg cluster.MasterConfig) (m *cluster.Master, stop func() error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	m, err := cluster.NewMaster(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	var stopped bool
	var runErr error
	stop = func() error {
		if stopped {
			return runErr
		}
		stopped = true
		cancel()
		select {
		case runErr = <-errc:
		case <-time.After(30 * time.Second):
			t.Fatal("master did not stop within 30s")
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	select {
	case <-m.Ready():
	case err := <-errc:
		stopped, runErr = true, err
		t.Fatalf("master failed to start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("master not ready within a minute")
	}
	return m, stop
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// adminClient is a clientset built from the admin kubeconfig file, as
// kubectl would use it.
func adminClient(t *testing.T, m *cluster.Master) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", m.AdminKubeconfig())
	require.NoError(t, err)
	require.Equal(t, m.URL(), cfg.Host)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

// TestMasterRestart: objects and the CA survive a restart on the same data
// dir; the kubeconfig keeps working.
func TestMasterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	m, stop := runMaster(t, cluster.MasterConfig{DataDir: dir})
	require.True(t, m.EmbeddedEtcd())
	require.NotEmpty(t, m.EtcdEndpoints())
	requireMode(t, m.AdminKubeconfig(), 0o600)
	requireMode(t, filepath.Join(dir, "pki", "ca.key"), 0o600)
	cs := adminClient(t, m)

	// What kubectl get cs shows: etcd, the scheduler and the controller
	// manager, healthy (their /healthz answers once they serve).
	require.Eventually(t, func() bool {
		statuses, err := cs.CoreV1().ComponentStatuses().List(ctx, metav1.ListOptions{})
		if err != nil || len(statuses.Items) != 3 {
			return false
		}
		for i, name := range []string{"etcd-0", "scheduler", "controller-manager"} {
			if statuses.Items[i].Name != name || statuses.Items[i].Conditions[0].Status != corev1.ConditionTrue {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "etcd-0, scheduler and controller-manager Healthy")

	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		require.NoError(t, err, ns)
	}
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "10.0.0.1", svc.Spec.ClusterIP)

	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cm, err := cs.CoreV1().ConfigMaps("team-a").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data:       map[string]string{"colour": "blue"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	caBefore := m.PKI().CA.CertPEM()
	kubeconfigBefore, err := clientcmd.LoadFromFile(m.AdminKubeconfig())
	require.NoError(t, err)

	require.NoError(t, stop(), "a clean shutdown returns nil")
	_, err = cs.CoreV1().Namespaces().Get(ctx, "team-a", metav1.GetOptions{})
	require.Error(t, err, "the server is gone")

	// Again on the same data dir, with one more name for the certificate.
	m2, _ := runMaster(t, cluster.MasterConfig{DataDir: dir, CertSANs: []string{"gantry.example"}})
	require.Equal(t, caBefore, m2.PKI().CA.CertPEM(), "same CA")
	require.Equal(t, []string{"apiserver.crt"}, m2.PKI().Issued, "only the serving certificate is issued again")
	require.NoError(t, m2.PKI().APIServer.Cert.VerifyHostname("gantry.example"))
	kubeconfigAfter, err := clientcmd.LoadFromFile(m2.AdminKubeconfig())
	require.NoError(t, err)
	require.Equal(t, kubeconfigBefore.AuthInfos, kubeconfigAfter.AuthInfos, "same admin credentials")

	cs2 := adminClient(t, m2)
	got, err := cs2.CoreV1().ConfigMaps("team-a").Get(ctx, "settings", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, cm.UID, got.UID)
	require.Equal(t, "blue", got.Data["colour"])
}

// TestMasterRefusesStrangers: without a certificate, or with one from
// another CA, the API answers 401; a known user without the role answers
// 403.
func TestMasterRefusesStrangers(t *testing.T) {
	m, _ := runMaster(t, cluster.MasterConfig{DataDir: t.TempDir()})
	p := m.PKI()
	other, err := pki.NewCA(pki.CAOptions{})
	require.NoError(t, err)
	foreign, err := other.Issue(pki.CertRequest{CommonName: pki.AdminUser, Organization: []string{pki.MastersGroup}, Usage: pki.ClientAuth})
	require.NoError(t, err)

	tests := []struct {
		name   string
		config func() *rest.Config
		want   func(error) bool
	}{
		{"admin", func() *rest.Config { c, _ := m.RESTConfig(); return c }, func(err error) bool { return err == nil }},
		{"no certificate", func() *rest.Config {
			return &rest.Config{Host: m.URL(), TLSClientConfig: rest.TLSClientConfig{CAData: p.CA.CertPEM()}}
		}, apierrors.IsUnauthorized},
		{"certificate from another CA", func() *rest.Config {
			c, _ := pki.Kubeconfig{Server: m.URL(), CA: p.CA.CertPEM(), ClientCert: foreign.CertPEM, ClientKey: foreign.KeyPEM, User: "x"}.RESTConfig()
			return c
		}, apierrors.IsUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := kubernetes.NewForConfig(tt.config())
			require.NoError(t, err)
			_, err = cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
			require.True(t, tt.want(err), "got %v", err)
			_, err = cs.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"}}, metav1.CreateOptions{})
			require.True(t, tt.want(err), "got %v", err)
		})
	}

	// The scheduler authenticates as system:kube-scheduler and may do
	// what its RBAC role allows, nothing more.
	t.Run("scheduler certificate", func(t *testing.T) {
		cs, err := kubernetes.NewForConfig(must(p.Kubeconfig(m.URL(), p.Scheduler).RESTConfig()))
		require.NoError(t, err)
		_, err = cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		_, err = cs.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "x-"}}, metav1.CreateOptions{})
		require.True(t, apierrors.IsForbidden(err), "got %v", err)
		require.Contains(t, err.Error(), `User "system:kube-scheduler" cannot create resource "configmaps"`)
	})

	t.Run("health stays open", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CA.Pool()}}, Timeout: 10 * time.Second}
		resp, err := hc.Get(m.URL() + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		for _, p := range []string{"/version", "/api", "/apis", "/openapi/v2", "/metrics"} {
			resp, err := hc.Get(m.URL() + p)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without a certificate", p)
		}
	})
}

// TestMasterExternalEtcd: with EtcdServers the master uses that cluster and
// leaves it running when it stops.
func TestMasterExternalEtcd(t *testing.T) {
	ctx := context.Background()
	emb, err := etcdstore.StartEmbedded(ctx, etcdstore.EmbeddedOptions{TempDir: true, FastTicks: true, UnsafeNoFsync: true})
	require.NoError(t, err)
	t.Cleanup(func() { emb.Close() })

	dir := t.TempDir()
	m, stop := runMaster(t, cluster.MasterConfig{DataDir: dir, EtcdServers: emb.Endpoints()})
	require.False(t, m.EmbeddedEtcd())
	require.Equal(t, emb.Endpoints(), m.EtcdEndpoints())
	require.NoDirExists(t, filepath.Join(dir, "etcd"))
	_, err = adminClient(t, m).CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ext"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, stop())

	c, err := emb.NewClient()
	require.NoError(t, err)
	defer c.Close()
	resp, err := c.Get(ctx, "/registry/configmaps/default/ext")
	require.NoError(t, err, "etcd still serves")
	require.Len(t, resp.Kvs, 1)
}

// TestMasterUnreachableEtcd: a master whose etcd does not answer gives up
// after StartTimeout with an error naming it.
func TestMasterUnreachableEtcd(t *testing.T) {
	m, err := cluster.NewMaster(cluster.MasterConfig{DataDir: t.TempDir(), EtcdServers: []string{"http://127.0.0.1:1"},
		StartTimeout: 2 * time.Second, Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = m.Run(ctx)
	require.ErrorContains(t, err, "http://127.0.0.1:1")
	require.NoError(t, ctx.Err(), "gave up before the test's deadline")
	require.NoFileExists(t, m.AdminKubeconfig())
}

// TestMasterDataDirInUse: a second master on the same data dir fails at once.
func TestMasterDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	runMaster(t, cluster.MasterConfig{DataDir: dir})
	m2, err := cluster.NewMaster(cluster.MasterConfig{DataDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = m2.Run(ctx)
	require.ErrorContains(t, err, "in use by another master")
	require.NoError(t, ctx.Err())
}

// TestMasterBadPKI: a damaged PKI file stops the start with an error naming
// it, and the file stays.
func TestMasterBadPKI(t *testing.T) {
	dir := t.TempDir()
	_, stop := runMaster(t, cluster.MasterConfig{DataDir: dir})
	require.NoError(t, stop())
	keyFile := filepath.Join(dir, "pki", "apiserver.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("garbage"), 0o600))

	m, err := cluster.NewMaster(cluster.MasterConfig{DataDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = m.Run(ctx)
	require.ErrorIs(t, err, pki.ErrBadFile)
	require.ErrorContains(t, err, keyFile)
	data, _ := os.ReadFile(keyFile)
	require.Equal(t, "garbage", string(data))
}

func TestNewMasterValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  cluster.MasterConfig
	}{
		{"no data dir", cluster.MasterConfig{}},
		{"bind address not an IP", cluster.MasterConfig{DataDir: "d", BindAddress: "localhost"}},
		{"port out of range", cluster.MasterConfig{DataDir: "d", SecurePort: 70000}},
		{"advertise address not an IP", cluster.MasterConfig{DataDir: "d", AdvertiseAddress: "master"}},
		{"advertise address unspecified", cluster.MasterConfig{DataDir: "d", AdvertiseAddress: "0.0.0.0"}},
		{"advertise address loopback", cluster.MasterConfig{DataDir: "d", AdvertiseAddress: "127.0.0.1"}},
		{"empty etcd server", cluster.MasterConfig{DataDir: "d", EtcdServers: []string{" "}}},
		{"etcd TLS without servers", cluster.MasterConfig{DataDir: "d", EtcdCAFile: "ca.crt"}},
		{"etcd cert without key", cluster.MasterConfig{DataDir: "d", EtcdServers: []string{"https://e:2379"}, EtcdCertFile: "c"}},
		{"bad SAN", cluster.MasterConfig{DataDir: "d", CertSANs: []string{"a b"}}},
		{"negative start timeout", cluster.MasterConfig{DataDir: "d", StartTimeout: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cluster.NewMaster(tt.cfg)
			require.Error(t, err)
		})
	}

	m, err := cluster.NewMaster(cluster.MasterConfig{DataDir: "rel"})
	require.NoError(t, err)
	cfg := m.Config()
	require.True(t, filepath.IsAbs(cfg.DataDir))
	require.Equal(t, "127.0.0.1", cfg.BindAddress)
	require.NotEqual(t, "127.0.0.1", cfg.AdvertiseAddress, "pods cannot reach a loopback address")
	require.Equal(t, filepath.Join(cfg.DataDir, "kubeconfig"), m.AdminKubeconfig())
	_, err = m.RESTConfig()
	require.Error(t, err, "not ready")

	m, err = cluster.NewMaster(cluster.MasterConfig{DataDir: "rel", BindAddress: "0.0.0.0"})
	require.NoError(t, err)
	require.NotEqual(t, "0.0.0.0", m.Config().AdvertiseAddress)
}

// TestMasterStopWhileStarting: a master stopped before it is ready returns
// nil, and is never ready.
func TestMasterStopWhileStarting(t *testing.T) {
	m, err := cluster.NewMaster(cluster.MasterConfig{DataDir: t.TempDir(), Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Run(ctx))
	select {
	case <-m.Ready():
		t.Fatal("ready after a cancelled start")
	default:
	}
}

func TestRunTwice(t *testing.T) {
	m, _ := runMaster(t, cluster.MasterConfig{DataDir: t.TempDir()})
	require.ErrorContains(t, m.Run(context.Background()), "twice")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func requireMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, mode, fi.Mode().Perm(), path)
}

// TestMasterTokenFile: bearer tokens from --token-auth-file authenticate
// besides certificates; an unknown or tampered token is 401, a user
// without a role 403.
func TestMasterTokenFile(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	require.NoError(t, os.WriteFile(tokens, []byte("t0ken-root,root,1,\"system:masters\"\nt0ken-bob,bob,2\n"), 0o600))
	m, _ := runMaster(t, cluster.MasterConfig{DataDir: filepath.Join(dir, "data"), TokenAuthFile: tokens})
	withToken := func(token string) kubernetes.Interface {
		cs, err := kubernetes.NewForConfig(&rest.Config{Host: m.URL(), BearerToken: token,
			TLSClientConfig: rest.TLSClientConfig{CAData: m.PKI().CA.CertPEM()}})
		require.NoError(t, err)
		return cs
	}
	ctx := context.Background()
	_, err := withToken("t0ken-root").CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	require.NoError(t, err, "a system:masters token")
	_, err = withToken("t0ken-bob").CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "a token user without a role: %v", err)
	require.Contains(t, err.Error(), `User "bob" cannot list resource "namespaces"`)
	for _, bad := range []string{"t0ken-rooT", "nope"} {
		_, err = withToken(bad).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		require.True(t, apierrors.IsUnauthorized(err), "token %q: %v", bad, err)
		require.NotContains(t, err.Error(), bad, "the error shows the token")
	}

	// A token file that cannot be read stops the master from starting.
	bad, err := cluster.NewMaster(cluster.MasterConfig{DataDir: filepath.Join(dir, "data2"), TokenAuthFile: filepath.Join(dir, "missing.csv"), Logger: testLogger(t)})
	require.NoError(t, err)
	require.ErrorContains(t, bad.Run(ctx), "missing.csv")
}
