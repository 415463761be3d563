package serviceaccount_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	sa "github.com/gantryhq/gantry/apiserver/serviceaccount"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/serviceaccount"
)

const rootCA = "-----BEGIN CERTIFICATE-----\nMIIB...test\n-----END CERTIFICATE-----\n"

// startManager runs the named controllers of this package until the test
// ends.
func startManager(t *testing.T, cs kubernetes.Interface, register func(*controller.Manager) error, names ...string) {
	t.Helper()
	m, err := controller.NewManager(controller.ManagerOptions{Client: cs, Controllers: names})
	require.NoError(t, err)
	require.NoError(t, register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
}

func TestTokenSecrets(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs, st := s.Client, s.Store
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	issuer, err := sa.NewIssuer(sa.IssuerOptions{Key: key})
	require.NoError(t, err)
	authn, err := sa.NewAuthenticator(sa.AuthenticatorOptions{Keys: []crypto.PublicKey{key.Public()}, Legacy: true, Lookup: sa.StoreLookup(st)})
	require.NoError(t, err)
	startManager(t, cs, func(m *controller.Manager) error {
		return serviceaccount.RegisterTokens(m, issuer, []byte(rootCA))
	}, serviceaccount.TokensName)

	ctx := context.Background()
	account, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ci-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "ci"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	var secret *corev1.Secret
	controllertest.Eventually(t, 10*time.Second, "token written", func() (bool, error) {
		secret, err = cs.CoreV1().Secrets("default").Get(ctx, "ci-token", metav1.GetOptions{})
		return err == nil && len(secret.Data[corev1.ServiceAccountTokenKey]) > 0, err
	})
	require.Equal(t, rootCA, string(secret.Data[corev1.ServiceAccountRootCAKey]))
	require.Equal(t, "default", string(secret.Data[corev1.ServiceAccountNamespaceKey]))
	require.Equal(t, string(account.UID), secret.Annotations[corev1.ServiceAccountUIDKey])
	token := string(secret.Data[corev1.ServiceAccountTokenKey])
	u, ok, err := authn.AuthenticateToken(ctx, token)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "system:serviceaccount:default:ci", u.Name)

	// Other secrets are left alone.
	_, err = cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "plain"}, StringData: map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// Deleting the account deletes its token secret, and the token with it.
	require.NoError(t, cs.CoreV1().ServiceAccounts("default").Delete(ctx, "ci", metav1.DeleteOptions{}))
	controllertest.Eventually(t, 10*time.Second, "token secret deleted", func() (bool, error) {
		_, err := cs.CoreV1().Secrets("default").Get(ctx, "ci-token", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	_, ok, err = authn.AuthenticateToken(ctx, token)
	require.Error(t, err)
	require.False(t, ok)
	plain, err := cs.CoreV1().Secrets("default").Get(ctx, "plain", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "v", string(plain.Data["k"]))
}

func TestRootCAPublisher(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	startManager(t, cs, func(m *controller.Manager) error {
		return serviceaccount.RegisterRootCA(m, []byte(rootCA))
	}, serviceaccount.RootCAName)
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	published := func(ns string) func() (bool, error) {
		return func() (bool, error) {
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, serviceaccount.RootCAConfigMap, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil && cm.Data[serviceaccount.RootCAKey] == rootCA && len(cm.Data) == 1, err
		}
	}
	for _, ns := range []string{"default", "kube-system", "team"} {
		controllertest.Eventually(t, 10*time.Second, "published in "+ns, published(ns))
	}
	// Changed: repaired. Deleted: recreated.
	cm, err := cs.CoreV1().ConfigMaps("team").Get(ctx, serviceaccount.RootCAConfigMap, metav1.GetOptions{})
	require.NoError(t, err)
	cm.Data = map[string]string{serviceaccount.RootCAKey: "forged", "extra": "x"}
	_, err = cs.CoreV1().ConfigMaps("team").Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, 10*time.Second, "repaired", published("team"))
	require.NoError(t, cs.CoreV1().ConfigMaps("team").Delete(ctx, serviceaccount.RootCAConfigMap, metav1.DeleteOptions{}))
	controllertest.Eventually(t, 10*time.Second, "recreated", published("team"))
}
