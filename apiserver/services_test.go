package apiserver_test

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store/memory"
)

func service(name string, typ corev1.ServiceType, clusterIP string, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type: typ, ClusterIP: clusterIP, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, NodePort: nodePort}},
		},
	}
}

func TestServiceAllocation(t *testing.T) {
	_, cs, _ := newTestServer(t)
	ctx := context.Background()
	svcs := cs.CoreV1().Services("default")
	serviceRange := netip.MustParsePrefix("10.0.0.0/24")

	a, err := svcs.Create(ctx, service("a", corev1.ServiceTypeClusterIP, "", 0), metav1.CreateOptions{})
	require.NoError(t, err)
	ip := netip.MustParseAddr(a.Spec.ClusterIP)
	require.True(t, serviceRange.Contains(ip), "cluster IP %s outside %s", ip, serviceRange)
	require.Equal(t, []string{a.Spec.ClusterIP}, a.Spec.ClusterIPs)
	require.Zero(t, a.Spec.Ports[0].NodePort)

	b, err := svcs.Create(ctx, service("b", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NotEqual(t, a.Spec.ClusterIP, b.Spec.ClusterIP)
	np := b.Spec.Ports[0].NodePort
	require.True(t, np >= 30000 && np <= 32767, "node port %d", np)

	// Taken addresses and ports are refused with a 422, and nothing is kept.
	_, err = svcs.Create(ctx, service("c", corev1.ServiceTypeClusterIP, a.Spec.ClusterIP, 0), metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "taken IP: %v", err)
	_, err = svcs.Create(ctx, service("c", corev1.ServiceTypeNodePort, "", np), metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "taken node port: %v", err)
	_, err = svcs.Create(ctx, service("c", corev1.ServiceTypeClusterIP, "192.168.1.1", 0), metav1.CreateOptions{})
	require.True(t, apierrors.IsInvalid(err), "IP out of range: %v", err)
	_, err = svcs.Get(ctx, "c", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))

	// Deleting releases: the same address and port can be asked for again.
	require.NoError(t, svcs.Delete(ctx, "a", metav1.DeleteOptions{}))
	require.NoError(t, svcs.Delete(ctx, "b", metav1.DeleteOptions{}))
	c, err := svcs.Create(ctx, service("c", corev1.ServiceTypeNodePort, a.Spec.ClusterIP, np), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, np, c.Spec.Ports[0].NodePort)

	// Type changes allocate and release node ports.
	c.Spec.Type = corev1.ServiceTypeClusterIP
	c.Spec.Ports[0].NodePort = 0
	c, err = svcs.Update(ctx, c, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Zero(t, c.Spec.Ports[0].NodePort)
	d, err := svcs.Create(ctx, service("d", corev1.ServiceTypeNodePort, "", np), metav1.CreateOptions{})
	require.NoError(t, err, "the released node port is free again")
	require.Equal(t, np, d.Spec.Ports[0].NodePort)
	c.Spec.Type = corev1.ServiceTypeNodePort
	c, err = svcs.Update(ctx, c, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NotZero(t, c.Spec.Ports[0].NodePort)
	require.NotEqual(t, np, c.Spec.Ports[0].NodePort)
}

func TestKubernetesService(t *testing.T) {
	st := memory.New(memory.Options{})
	defer st.Close()
	srv, err := apiserver.New(apiserver.Options{Store: st, AdvertiseAddress: "192.0.2.10", AdvertisePort: 6443})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, srv.EnsureSystemObjects(ctx))
	require.NoError(t, srv.EnsureSystemObjects(ctx), "idempotent")
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cs := kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL})
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "10.0.0.1", svc.Spec.ClusterIP)
	require.Equal(t, int32(443), svc.Spec.Ports[0].Port)
	ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "192.0.2.10", ep.Subsets[0].Addresses[0].IP)
	slice, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.10"}, slice.Endpoints[0].Addresses)
	require.Equal(t, int32(6443), *slice.Ports[0].Port)
}
