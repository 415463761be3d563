package noderestriction_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

// TestNodeTokenRequests: a node agent gets service account tokens only for
// its own pods' accounts, bound to those pods.
func TestNodeTokenRequests(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC(), apiservertest.WithServiceAccounts())
	ctx := context.Background()
	admin := s.Client
	for _, name := range []string{"default", "builder"} {
		_, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	pods := map[string]*corev1.Pod{}
	for _, p := range []struct{ name, node, sa string }{{"a", "n1", "builder"}, {"b", "n2", "builder"}, {"c", "n1", "default"}} {
		pod, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name},
			Spec: corev1.PodSpec{NodeName: p.node, ServiceAccountName: p.sa,
				Containers: []corev1.Container{{Name: "c", Image: "gantry.local/busybox"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		pods[p.name] = pod
	}
	n1, err := kubernetes.NewForConfig(s.ConfigFor("system:node:n1", "system:nodes"))
	require.NoError(t, err)
	request := func(sa string, ref *authenticationv1.BoundObjectReference) error {
		_, err := n1.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref},
		}, metav1.CreateOptions{})
		return err
	}
	boundTo := func(name string) *authenticationv1.BoundObjectReference {
		return &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: name, UID: pods[name].UID}
	}
	require.NoError(t, request("builder", boundTo("a")))

	for _, tc := range []struct {
		name, sa string
		ref      *authenticationv1.BoundObjectReference
		want     string
	}{
		{"unbound", "builder", nil, `node "n1" may only request tokens of service account "default/builder" bound to one of its pods`},
		{"another node's pod", "builder", boundTo("b"), `pod "default/b", which is bound to node "n2"`},
		{"another account's pod", "builder", boundTo("c"), `which runs as "default"`},
		{"stale UID", "builder", &authenticationv1.BoundObjectReference{Kind: "Pod", Name: "a", UID: "old"}, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := request(tc.sa, tc.ref)
			require.True(t, apierrors.IsForbidden(err) || apierrors.IsConflict(err), "%v", err)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
