package cluster_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/pki"
)

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNoSecretsInLogs runs a master with debug logs through everything
// that handles credentials and secrets (static tokens, service account
// tokens of both kinds, refused and revoked tokens, token reviews,
// impersonation, secret data) and checks that no secret value reaches the
// log.
func TestNoSecretsInLogs(t *testing.T) {
	dir := t.TempDir()
	const staticToken, wrongToken = "s3cret-static-root-token", "s3cret-wrong-token"
	tokens := filepath.Join(dir, "tokens.csv")
	require.NoError(t, os.WriteFile(tokens, []byte(staticToken+",root,1,\"system:masters\"\n"), 0o600))
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, stop := runMaster(t, cluster.MasterConfig{DataDir: filepath.Join(dir, "data"), TokenAuthFile: tokens, Logger: log})
	withToken := func(token string) kubernetes.Interface {
		cs, err := kubernetes.NewForConfig(&rest.Config{Host: m.URL(), BearerToken: token,
			TLSClientConfig: rest.TLSClientConfig{CAData: m.PKI().CA.CertPEM()}})
		require.NoError(t, err)
		return cs
	}
	ctx := context.Background()
	admin := withToken(staticToken)
	secrets := []string{staticToken, wrongToken}

	_, err := withToken(wrongToken).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsUnauthorized(err), "%v", err)

	const password = "s3cret-db-password"
	_, err = admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": password},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	secrets = append(secrets, password)

	_, err = admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	tr, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "ci", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	require.NoError(t, err)
	saToken := tr.Status.Token
	secrets = append(secrets, saToken, saToken[:len(saToken)-4]+"AAAA")
	_, err = withToken(saToken).CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	_, err = withToken(saToken[:len(saToken)-4]+"AAAA").CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsUnauthorized(err), "a tampered token: %v", err)
	review, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: saToken}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, review.Status.Authenticated, review.Status.Error)

	// A legacy token secret, filled by the token controller.
	_, err = admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ci-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "ci"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var legacy string
	require.Eventually(t, func() bool {
		s, err := admin.CoreV1().Secrets("default").Get(ctx, "ci-token", metav1.GetOptions{})
		legacy = string(s.Data[corev1.ServiceAccountTokenKey])
		return err == nil && legacy != ""
	}, time.Minute, 20*time.Millisecond, "the token controller did not fill the secret")
	secrets = append(secrets, legacy)
	review, err = admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: legacy}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, review.Status.Authenticated, review.Status.Error)
	require.Equal(t, "system:serviceaccount:default:ci", review.Status.User.Username)

	// Impersonation by the administrator.
	cfg := &rest.Config{Host: m.URL(), BearerToken: staticToken, TLSClientConfig: rest.TLSClientConfig{CAData: m.PKI().CA.CertPEM()},
		Impersonate: rest.ImpersonationConfig{UserName: "system:serviceaccount:default:ci"}}
	as, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = as.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)

	// Deleting the account revokes both tokens and deletes the secret.
	require.NoError(t, admin.CoreV1().ServiceAccounts("default").Delete(ctx, "ci", metav1.DeleteOptions{}))
	for _, tok := range []string{saToken, legacy} {
		_, err = withToken(tok).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		require.True(t, apierrors.IsUnauthorized(err), "%v", err)
	}
	require.Eventually(t, func() bool {
		_, err := admin.CoreV1().Secrets("default").Get(ctx, "ci-token", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, time.Minute, 20*time.Millisecond, "the token secret outlived its account")

	require.NoError(t, stop())
	out := logs.String()
	require.NotEmpty(t, out)
	require.Contains(t, out, "level=DEBUG", "the master did not log at debug level: the test checks nothing")
	for _, s := range secrets {
		require.NotContains(t, out, s, "a secret reached the log")
	}
	// Nor any part that identifies a JWT's signature.
	for _, tok := range []string{saToken, legacy} {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		require.NotContains(t, out, sig[:16])
	}
}

// TestKubectlServiceAccounts: kubectl create serviceaccount/token, a
// token's identity and permissions, impersonation with --as, and
// revocation, against a cluster with the controllers running.
func TestKubectlServiceAccounts(t *testing.T) {
	t.Parallel()
	k := newKubectl(t)
	c := cluster.StartTestCluster(t, cluster.TestClusterOptions{RBAC: true, ServiceAccounts: true})
	admin := k.kubeconfigFor(c.TestMaster, "admin", pki.MastersGroup)
	// A kubeconfig with no credentials: --token supplies them.
	anon := filepath.Join(k.dir, "anon")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.CA.CertPEM()}
	kc.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "nobody"}
	kc.CurrentContext = "test"
	require.NoError(t, clientcmd.WriteToFile(*kc, anon))
	run, must := k.run, k.must

	must(admin, "create", "serviceaccount", "builder")
	token := must(admin, "create", "token", "builder", "--duration=20m")
	require.Contains(t, must(anon, "--token", token, "auth", "whoami"), "system:serviceaccount:default:builder")
	require.Equal(t, "no", mustFail(t, run, anon, "--token", token, "auth", "can-i", "list", "pods"))
	require.Equal(t, "no", mustFail(t, run, admin, "auth", "can-i", "list", "pods", "--as=system:serviceaccount:default:builder"))
	out, err := run(anon, "--token", token, "get", "pods")
	require.Error(t, err)
	require.Contains(t, out, `User "system:serviceaccount:default:builder" cannot list resource "pods"`)

	must(admin, "create", "rolebinding", "builder-view", "--clusterrole=view", "--serviceaccount=default:builder")
	eventually(t, func() error { _, err := run(anon, "--token", token, "get", "pods"); return err })
	require.Equal(t, "yes", answer(must(admin, "auth", "can-i", "list", "pods", "--as=system:serviceaccount:default:builder")))
	out, err = run(admin, "get", "pods", "--as=jane")
	require.Error(t, err)
	require.Contains(t, out, `User "jane" cannot list resource "pods"`)

	out, err = run(admin, "create", "token", "builder", "--duration=1m")
	require.Error(t, err)
	require.Contains(t, out, "less than 10 minutes")

	// Pods get the default account and its token volume.
	must(admin, "run", "web", "--image=gantry.local/busybox", "--restart=Never")
	volumes := must(admin, "get", "pod", "web", "-o", "jsonpath={.spec.serviceAccountName} {.spec.volumes[*].name} {.spec.containers[0].volumeMounts[*].mountPath}")
	require.Regexp(t, `^default kube-api-access-[a-z0-9]{5} /var/run/secrets/kubernetes.io/serviceaccount$`, volumes)
	eventually(t, func() error {
		_, err := run(admin, "get", "configmap", "kube-root-ca.crt", "-n", "default")
		return err
	})

	// Priority classes: served, and resolved into pods' priorities.
	must(admin, "create", "priorityclass", "high", "--value=1000", "--description=for the test")
	require.Regexp(t, `system-node-critical\s+2000001000\s+false`, must(admin, "get", "priorityclasses"))
	must(admin, "run", "urgent", "--image=gantry.local/busybox", "--restart=Never", `--overrides={"spec":{"priorityClassName":"high"}}`)
	require.Equal(t, "1000", must(admin, "get", "pod", "urgent", "-o", "jsonpath={.spec.priority}"))

	must(admin, "delete", "serviceaccount", "builder")
	out, err = run(anon, "--token", token, "get", "pods")
	require.Error(t, err)
	require.Contains(t, out, "You must be logged in to the server (invalid bearer token: service account: has been deleted)")
	require.NotContains(t, out, token)
	require.NotContains(t, out, "/registry/", "the error shows the store's keys")
}

// TestMasterTokenOptions: --service-account-issuer, --api-audiences,
// --service-account-max-token-expiration, --enable-admission-plugins and
// --default-not-ready-toleration-seconds.
func TestMasterTokenOptions(t *testing.T) {
	dir := t.TempDir()
	_, err := cluster.NewMaster(cluster.MasterConfig{DataDir: dir, EnableAdmissionPlugins: []string{"AlwaysPullImagez"}})
	require.ErrorContains(t, err, `unknown admission plugin "AlwaysPullImagez"`)
	_, err = cluster.NewMaster(cluster.MasterConfig{DataDir: dir, DefaultUnreachableTolerationSeconds: ptr.To[int64](-1)})
	require.ErrorContains(t, err, "negative default toleration seconds")

	m, _ := runMaster(t, cluster.MasterConfig{
		DataDir: dir, ServiceAccountIssuer: "https://gantry.example", APIAudiences: []string{"gantry-api"},
		ServiceAccountMaxTokenExpiration: time.Hour, EnableAdmissionPlugins: []string{cluster.AlwaysPullImages},
		DefaultNotReadyTolerationSeconds: ptr.To[int64](60),
	})
	admin := adminClient(t, m)
	ctx := context.Background()
	_, err = admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	long := int64(48 * 3600)
	tr, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "ci", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &long},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"gantry-api"}, tr.Spec.Audiences)
	require.Equal(t, int64(3600), *tr.Spec.ExpirationSeconds, "the lifetime was not capped")
	require.WithinDuration(t, time.Now().Add(time.Hour), tr.Status.ExpirationTimestamp.Time, time.Minute)
	claims := decodeClaims(t, tr.Status.Token)
	require.Equal(t, "https://gantry.example", claims["iss"])

	cs, err := kubernetes.NewForConfig(&rest.Config{Host: m.URL(), BearerToken: tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: m.PKI().CA.CertPEM()}})
	require.NoError(t, err)
	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, "system:serviceaccount:default:ci", review.Status.UserInfo.Username)

	// AlwaysPullImages: every container pulls.
	require.Eventually(t, func() bool {
		_, err := admin.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}, time.Minute, 20*time.Millisecond, "no default service account")
	pod, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "gantry.local/busybox", ImagePullPolicy: corev1.PullNever}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.PullAlways, pod.Spec.Containers[0].ImagePullPolicy)

	// DefaultTolerationSeconds: the configured not-ready seconds, the
	// default unreachable ones.
	require.Equal(t, []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}, pod.Spec.Tolerations)
}

// decodeClaims returns a JWT's claims, unverified.
func decodeClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims
}
