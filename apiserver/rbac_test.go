package apiserver_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

// TestRBACResources: the rbac.authorization.k8s.io objects are served,
// validated, defaulted and printed as tables.
func TestRBACResources(t *testing.T) {
	t.Parallel()
	s := apiservertest.Start(t, apiserver.Options{})
	ctx := context.Background()
	_, err := s.Client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "system:reader"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err, "names with colons are valid")
	rb, err := s.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "b"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:reader"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "bob"}, {Kind: "ServiceAccount", Name: "sa", Namespace: "default"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, rbacv1.GroupName, rb.Subjects[0].APIGroup, "user subjects default to the RBAC group")
	require.Equal(t, "", rb.Subjects[1].APIGroup)

	rb.RoleRef.Name = "other"
	_, err = s.Client.RbacV1().RoleBindings("default").Update(ctx, rb, metav1.UpdateOptions{})
	require.True(t, apierrors.IsInvalid(err), "got %v", err)
	var status apierrors.APIStatus
	require.ErrorAs(t, err, &status)
	require.Equal(t, int32(http.StatusUnprocessableEntity), status.Status().Code)

	tbl := getTable(t, s.URL+"/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings")
	require.Contains(t, tbl, "ClusterRole/system:reader")
	require.Contains(t, tbl, "default/sa")
	require.Contains(t, getTable(t, s.URL+"/apis/rbac.authorization.k8s.io/v1/clusterroles"), "Created At")
}

func getTable(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return string(body)
}

// TestAccessReviewsWithoutAuthorizer: without an authorizer everything is
// allowed; reviews are create-only.
func TestAccessReviewsWithoutAuthorizer(t *testing.T) {
	t.Parallel()
	s := apiservertest.Start(t, apiserver.Options{})
	ctx := context.Background()
	r, err := s.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.True(t, r.Status.Allowed)

	_, err = s.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}},
	}, metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "no user or group: %v", err)

	_, err = s.Client.AuthorizationV1().LocalSubjectAccessReviews("default").Create(ctx, &authorizationv1.LocalSubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "bob", ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "other", Verb: "get", Resource: "pods"}},
	}, metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "namespace mismatch: %v", err)

	resp, err := http.Get(s.URL + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestNonResourceAuthorization: paths outside the resources are asked
// about as non-resource requests, except the always-allowed ones.
func TestNonResourceAuthorization(t *testing.T) {
	t.Parallel()
	var asked []string
	var mu sync.Mutex
	authz := apiserver.AuthorizerFunc(func(_ context.Context, a apiserver.Attributes) (apiserver.Decision, string, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, a.Verb+" "+a.Path)
		if a.Path == "/version" {
			return apiserver.DecisionAllow, "", nil
		}
		return apiserver.DecisionNoOpinion, "", nil
	})
	s := apiservertest.Start(t, apiserver.Options{Authorizer: authz, AlwaysAllowPaths: []string{"/livez", "/healthz"}})
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/healthz", http.StatusOK}, {"/healthz/etcd", http.StatusOK}, {"/livez", http.StatusOK},
		{"/version", http.StatusOK}, {"/apis", http.StatusForbidden}, {"/metrics", http.StatusForbidden},
		{"/readyz", http.StatusForbidden}, // not in this server's AlwaysAllowPaths
	} {
		resp, err := http.Get(s.URL + tt.path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, tt.code, resp.StatusCode, "%s: %s", tt.path, body)
		if tt.code == http.StatusForbidden {
			require.Contains(t, string(body), `User \"system:anonymous\" cannot get path \"`+tt.path+`\"`)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"get /version", "get /apis", "get /metrics", "get /readyz"}, asked)
}
