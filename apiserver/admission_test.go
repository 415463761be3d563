package apiserver_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
)

// subresourceGate refuses the pod subresource writes it is told to and
// records the admission requests for pods it sees.
type subresourceGate struct {
	mu      sync.Mutex
	deny    map[string]bool
	seen    []string
	binding *corev1.Binding
}

func (g *subresourceGate) Validate(_ context.Context, req *apiserver.AdmissionRequest) error {
	if req.Resource.Resource != "pods" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen = append(g.seen, string(req.Operation)+" "+req.Resource.Resource+"/"+req.Subresource+" "+req.Namespace+"/"+req.Name)
	if b, ok := req.Object.(*corev1.Binding); ok {
		g.binding = b
	}
	if g.deny[req.Subresource] {
		return errors.New("the gate is closed")
	}
	return nil
}

func TestAdmissionOfBindingAndEviction(t *testing.T) {
	gate := &subresourceGate{deny: map[string]bool{"binding": true, "eviction": true}}
	s := apiservertest.Start(t, apiserver.Options{Admission: []any{gate}})
	ctx := context.Background()
	pods := s.Client.CoreV1().Pods("default")
	_, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "gantry.local/busybox"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	require.ErrorContains(t, err, "the gate is closed")
	err = pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "web"}})
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	pod, err := pods.Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err, "a refused eviction deleted the pod")
	require.Empty(t, pod.Spec.NodeName, "a refused binding bound the pod")

	gate.mu.Lock()
	gate.deny = nil
	gate.mu.Unlock()
	require.NoError(t, pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}, metav1.CreateOptions{}))
	require.NoError(t, pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "web"}}))
	gate.mu.Lock()
	defer gate.mu.Unlock()
	require.Equal(t, []string{
		"CREATE pods/ default/web",
		"CREATE pods/binding default/web",
		"CREATE pods/eviction default/web",
		"CREATE pods/binding default/web",
		"CREATE pods/eviction default/web",
		"DELETE pods/ default/web",
	}, gate.seen)
	require.Equal(t, "n1", gate.binding.Target.Name)
	require.Equal(t, "default", gate.binding.Namespace)
}
