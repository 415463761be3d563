package apiserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

func TestImpersonation(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
	ctx := context.Background()
	as := func(imp rest.ImpersonationConfig) kubernetes.Interface {
		cfg := s.ConfigFor("alice")
		cfg.Impersonate = imp
		cs, err := kubernetes.NewForConfig(cfg)
		require.NoError(t, err)
		return cs
	}
	whoami := func(cs kubernetes.Interface) (authenticationv1.UserInfo, error) {
		r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return authenticationv1.UserInfo{}, err
		}
		return r.Status.UserInfo, nil
	}

	// Without a grant every part is refused, naming what was asked.
	_, err := whoami(as(rest.ImpersonationConfig{UserName: "bob"}))
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `User "alice" cannot impersonate resource "users" in API group ""`)

	_, err = s.Client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob"},
		Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"bob"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"groups"}, ResourceNames: []string{"devs"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{"ci"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"userextras/scopes"}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = s.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-impersonates"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "impersonate-bob"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	var u authenticationv1.UserInfo
	require.Eventually(t, func() bool {
		u, err = whoami(as(rest.ImpersonationConfig{UserName: "bob", Groups: []string{"devs"}, Extra: map[string][]string{"scopes": {"read"}}}))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "impersonation never allowed: %v", err)
	require.Equal(t, "bob", u.Username)
	require.Equal(t, []string{"devs", "system:authenticated"}, u.Groups)
	require.Equal(t, authenticationv1.ExtraValue{"read"}, u.Extra["scopes"])

	// The request is authorized as bob, who may do nothing.
	_, err = as(rest.ImpersonationConfig{UserName: "bob"}).CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, `User "bob" cannot list resource "pods"`)

	u, err = whoami(as(rest.ImpersonationConfig{UserName: "system:serviceaccount:default:ci"}))
	require.NoError(t, err)
	require.Equal(t, []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"}, u.Groups)

	for _, tc := range []struct {
		imp  rest.ImpersonationConfig
		want string
	}{
		{rest.ImpersonationConfig{UserName: "carol"}, `cannot impersonate resource "users"`},
		{rest.ImpersonationConfig{UserName: "bob", Groups: []string{"system:masters"}}, `cannot impersonate resource "groups"`},
		{rest.ImpersonationConfig{UserName: "bob", UID: "1234"}, `cannot impersonate resource "uids" in API group "authentication.k8s.io"`},
		{rest.ImpersonationConfig{UserName: "bob", Extra: map[string][]string{"other": {"x"}}}, `cannot impersonate resource "userextras/other"`},
		{rest.ImpersonationConfig{UserName: "system:serviceaccount:default:deployer"}, `cannot impersonate resource "serviceaccounts" in API group "" in the namespace "default"`},
	} {
		_, err := whoami(as(tc.imp))
		require.True(t, apierrors.IsForbidden(err), "%+v: %v", tc.imp, err)
		require.ErrorContains(t, err, tc.want)
	}

	// Groups without a user are malformed.
	cfg := s.ConfigFor("alice")
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			r = r.Clone(r.Context())
			r.Header.Set("Impersonate-Group", "devs")
			return rt.RoundTrip(r)
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = whoami(cs)
	require.True(t, apierrors.IsBadRequest(err), "%v", err)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
