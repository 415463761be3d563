package serviceaccount_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/apiserver/serviceaccount"
)

func start(t *testing.T) (*apiservertest.Server, kubernetes.Interface) {
	t.Helper()
	s := apiservertest.Start(t, apiserverOptions(), apiservertest.WithRBAC(), apiservertest.WithServiceAccounts())
	ctx := context.Background()
	_, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, name := range []string{"default", "builder"} {
		_, err = s.Client.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	return s, s.Client
}

func tokenFor(t *testing.T, cs kubernetes.Interface, sa string, spec authenticationv1.TokenRequestSpec) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts("team").CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, tr.Status.Token)
	return tr.Status.Token
}

func clientWithToken(t *testing.T, s *apiservertest.Server, token string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: s.URL, QPS: -1, BearerToken: token})
	require.NoError(t, err)
	return cs
}

func TestTokenRequestAuthenticatesAsTheAccount(t *testing.T) {
	s, admin := start(t)
	ctx := context.Background()
	token := tokenFor(t, admin, "builder", authenticationv1.TokenRequestSpec{})
	cs := clientWithToken(t, s, token)

	review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, "system:serviceaccount:team:builder", review.Status.UserInfo.Username)
	require.Contains(t, review.Status.UserInfo.Groups, "system:serviceaccounts:team")

	// No role yet: 403 naming the account.
	_, err = cs.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `User "system:serviceaccount:team:builder" cannot list resource "pods"`)

	_, err = admin.RbacV1().RoleBindings("team").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "builder-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "team", Name: "builder"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
		return err == nil
	}, waitFor, tick)

	// Deleting the account revokes the token at once.
	require.NoError(t, admin.CoreV1().ServiceAccounts("team").Delete(ctx, "builder", metav1.DeleteOptions{}))
	_, err = cs.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsUnauthorized(err), "%v", err)
	require.NotContains(t, err.Error(), token)

	// A new account of the same name does not bring the old token back.
	_, err = admin.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsUnauthorized(err), "%v", err)
}

func TestTokenBoundToPodDiesWithIt(t *testing.T) {
	s, admin := start(t)
	ctx := context.Background()
	pod, err := admin.CoreV1().Pods("team").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "gantry.local/busybox"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	token := tokenFor(t, admin, "default", authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: pod.UID},
	})
	tr, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, tr.Status.Authenticated, tr.Status.Error)
	require.Equal(t, []string{"web"}, []string(tr.Status.User.Extra[serviceaccount.ExtraPodName]))
	require.Empty(t, tr.Spec.Token, "the review echoes the token")

	require.NoError(t, admin.CoreV1().Pods("team").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	_, err = clientWithToken(t, s, token).CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsUnauthorized(err), "%v", err)
	tr, err = admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.False(t, tr.Status.Authenticated)
	require.Contains(t, tr.Status.Error, "bound pod")
}

func TestTokenReviewAudiences(t *testing.T) {
	_, admin := start(t)
	ctx := context.Background()
	token := tokenFor(t, admin, "builder", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
	review := func(audiences ...string) *authenticationv1.TokenReview {
		tr, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		return tr
	}
	require.False(t, review().Status.Authenticated, "a vault token is not for the API server")
	tr := review("vault")
	require.True(t, tr.Status.Authenticated, tr.Status.Error)
	require.Equal(t, []string{"vault"}, tr.Status.Audiences)
	require.Equal(t, "system:serviceaccount:team:builder", tr.Status.User.Username)

	_, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{}, metav1.CreateOptions{})
	require.True(t, apierrors.IsBadRequest(err), "%v", err)
}

func TestTokenRequestBadInput(t *testing.T) {
	_, admin := start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		sa    string
		spec  authenticationv1.TokenRequestSpec
		check func(error) bool
		msg   string
	}{
		{"too short", "builder", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](60)}, apierrors.IsInvalid, "less than 10 minutes"},
		{"no account", "nobody", authenticationv1.TokenRequestSpec{}, apierrors.IsNotFound, `serviceaccounts "nobody" not found`},
		{"bound to a missing pod", "builder", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "ghost"}}, apierrors.IsNotFound, `pods "ghost" not found`},
		{"bound to a kind", "builder", authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "ConfigMap", Name: "x"}}, apierrors.IsInvalid, "spec.boundObjectRef.kind"},
		{"empty audience", "builder", authenticationv1.TokenRequestSpec{Audiences: []string{""}}, apierrors.IsInvalid, "spec.audiences[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.CoreV1().ServiceAccounts("team").CreateToken(ctx, tc.sa, &authenticationv1.TokenRequest{Spec: tc.spec}, metav1.CreateOptions{})
			require.True(t, tc.check(err), "%v", err)
			require.ErrorContains(t, err, tc.msg)
		})
	}
	// A user who may read accounts may not mint their tokens.
	s2, admin2 := start(t)
	_, err := admin2.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	alice, err := kubernetes.NewForConfig(s2.ConfigFor("alice"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := alice.CoreV1().ServiceAccounts("team").Get(ctx, "builder", metav1.GetOptions{})
		return err == nil
	}, waitFor, tick)
	_, err = alice.CoreV1().ServiceAccounts("team").CreateToken(ctx, "builder", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `cannot create resource "serviceaccounts/token"`)
}

func TestAdmissionGivesPodsTheirAccount(t *testing.T) {
	_, admin := start(t)
	ctx := context.Background()
	newPod := func(name string, mutate func(*corev1.Pod)) (*corev1.Pod, error) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "gantry.local/busybox"}},
				Containers:     []corev1.Container{{Name: "c", Image: "gantry.local/busybox"}},
			},
		}
		if mutate != nil {
			mutate(p)
		}
		return admin.CoreV1().Pods("team").Create(ctx, p, metav1.CreateOptions{})
	}
	pod, err := newPod("plain", nil)
	require.NoError(t, err)
	require.Equal(t, "default", pod.Spec.ServiceAccountName)
	require.Len(t, pod.Spec.Volumes, 1)
	vol := pod.Spec.Volumes[0]
	require.True(t, strings.HasPrefix(vol.Name, serviceaccount.TokenVolumePrefix), vol.Name)
	require.NotNil(t, vol.Projected)
	require.Equal(t, "token", vol.Projected.Sources[0].ServiceAccountToken.Path)
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		require.Equal(t, []corev1.VolumeMount{{Name: vol.Name, ReadOnly: true, MountPath: serviceaccount.TokenMountPath}}, c.VolumeMounts, c.Name)
	}

	pod, err = newPod("no-token", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr.To(false) })
	require.NoError(t, err)
	require.Empty(t, pod.Spec.Volumes)

	// The account's setting applies when the pod has none.
	_, err = admin.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: ptr.To(false),
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod, err = newPod("quiet", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "quiet" })
	require.NoError(t, err)
	require.Empty(t, pod.Spec.Volumes)
	require.Equal(t, "quiet", pod.Spec.DeprecatedServiceAccount)

	// Pods without pull secrets get the account's.
	_, err = admin.CoreV1().ServiceAccounts("team").Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "puller"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod, err = newPod("puller", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "puller" })
	require.NoError(t, err)
	require.Equal(t, []corev1.LocalObjectReference{{Name: "registry"}}, pod.Spec.ImagePullSecrets)
	pod, err = newPod("own-secret", func(p *corev1.Pod) {
		p.Spec.ServiceAccountName = "puller"
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mine"}}
	})
	require.NoError(t, err)
	require.Equal(t, []corev1.LocalObjectReference{{Name: "mine"}}, pod.Spec.ImagePullSecrets)

	_, err = newPod("ghost", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "ghost" })
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `error looking up service account team/ghost: serviceaccount "ghost" not found`)
	_, err = admin.CoreV1().Pods("team").Get(ctx, "ghost", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "a refused pod was stored: %v", err)
}

// TestExpiredTokenIsRefused: a token past its expiry gets 401.
func TestExpiredTokenIsRefused(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := apiservertest.Start(t, apiserver.Options{Now: clock}, apiservertest.WithRBAC(), apiservertest.WithServiceAccounts())
	ctx := context.Background()
	_, err := s.Client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	tr, err := s.Client.CoreV1().ServiceAccounts("default").CreateToken(ctx, "ci", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, now.Add(10*time.Minute).Equal(tr.Status.ExpirationTimestamp.Time), "expiry %v", tr.Status.ExpirationTimestamp)
	cs := clientWithToken(t, s, tr.Status.Token)
	_, err = cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)

	mu.Lock()
	now = now.Add(10*time.Minute + time.Second)
	mu.Unlock()
	_, err = cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.True(t, apierrors.IsUnauthorized(err), "%v", err)
	require.ErrorContains(t, err, "token is expired")
}
