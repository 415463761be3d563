package endpoints_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/endpoints"
)

const wait = 20 * time.Second

func start(t *testing.T) kubernetes.Interface {
	s := controllertest.Start(t, apiserver.Options{})
	m, err := controller.NewManager(controller.ManagerOptions{Client: s.Client})
	require.NoError(t, err)
	require.NoError(t, endpoints.Register(m))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return s.Client
}

func pod(t *testing.T, cs kubernetes.Interface, name, ip string, ready bool, named bool) {
	t.Helper()
	c := corev1.Container{Name: "c", Image: "x"}
	if named {
		c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
	}
	p, err := cs.CoreV1().Pods("default").Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	setStatus(t, cs, p, ip, ready)
}

func setStatus(t *testing.T, cs kubernetes.Interface, p *corev1.Pod, ip string, ready bool) {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}
	_, err := cs.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func addrs(as []corev1.EndpointAddress) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.IP+"/"+a.TargetRef.Name)
	}
	sort.Strings(out)
	return out
}

// summary flattens Endpoints into "ready|notready|ports" per subset.
func summary(ep *corev1.Endpoints) []string {
	var out []string
	for _, s := range ep.Subsets {
		var ps []string
		for _, p := range s.Ports {
			ps = append(ps, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		sort.Strings(ps)
		out = append(out, fmt.Sprint(addrs(s.Addresses), addrs(s.NotReadyAddresses), ps))
	}
	sort.Strings(out)
	return out
}

func sliceSummary(cs kubernetes.Interface) ([]string, error) {
	l, err := cs.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range l.Items {
		var ps []string
		for _, p := range s.Ports {
			ps = append(ps, fmt.Sprintf("%s:%d", *p.Name, *p.Port))
		}
		sort.Strings(ps)
		for _, e := range s.Endpoints {
			out = append(out, fmt.Sprint(e.Addresses[0], "/", e.TargetRef.Name, " ready=", *e.Conditions.Ready, " ", ps))
		}
		if len(s.Endpoints) == 0 {
			out = append(out, "empty")
		}
	}
	sort.Strings(out)
	return out, nil
}

func TestEndpointsAndSlices(t *testing.T) {
	cs := start(t)
	ctx := context.Background()
	_, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9091), Protocol: corev1.ProtocolTCP},
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod(t, cs, "a", "10.0.0.1", true, true)
	pod(t, cs, "b", "10.0.0.2", false, true)
	pod(t, cs, "c", "", true, true)          // no IP yet: left out
	pod(t, cs, "d", "10.0.0.4", true, false) // named port missing: left out

	wantEP := []string{"[10.0.0.1/a] [10.0.0.2/b] [http:8080 metrics:9091]"}
	controllertest.Eventually(t, wait, "endpoints", func() (bool, error) {
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return fmt.Sprint(summary(ep)) == fmt.Sprint(wantEP), nil
	})
	wantSlices := []string{
		"10.0.0.1/a ready=true [http:8080 metrics:9091]",
		"10.0.0.2/b ready=false [http:8080 metrics:9091]",
	}
	controllertest.Eventually(t, wait, "slices", func() (bool, error) {
		got, err := sliceSummary(cs)
		return fmt.Sprint(got) == fmt.Sprint(wantSlices), err
	})
	l, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	require.NoError(t, err)
	require.Equal(t, endpoints.ManagedBy, l.Items[0].Labels[discoveryv1.LabelManagedBy])
	require.Equal(t, "Service", metav1.GetControllerOf(&l.Items[0]).Kind)

	// b becomes ready, a goes away.
	b, err := cs.CoreV1().Pods("default").Get(ctx, "b", metav1.GetOptions{})
	require.NoError(t, err)
	setStatus(t, cs, b, "10.0.0.2", true)
	require.NoError(t, cs.CoreV1().Pods("default").Delete(ctx, "a", metav1.DeleteOptions{}))
	controllertest.Eventually(t, wait, "endpoints follow pods", func() (bool, error) {
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && fmt.Sprint(summary(ep)) == "[[10.0.0.2/b] [] [http:8080 metrics:9091]]", err
	})
	controllertest.Eventually(t, wait, "slices follow pods", func() (bool, error) {
		got, err := sliceSummary(cs)
		return fmt.Sprint(got) == "[10.0.0.2/b ready=true [http:8080 metrics:9091]]", err
	})

	// Deleting the service removes both.
	require.NoError(t, cs.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}))
	controllertest.Eventually(t, wait, "cleaned up", func() (bool, error) {
		_, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		got, lerr := sliceSummary(cs)
		return err != nil && len(got) == 0, lerr
	})
}

func TestServiceWithoutSelectorIsLeftAlone(t *testing.T) {
	cs := start(t)
	ctx := context.Background()
	_, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Endpoints("default").Create(ctx, &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "manual"},
		Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: []corev1.EndpointPort{{Port: 80}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod(t, cs, "x", "10.0.0.9", true, true) // triggers a reconcile of services in the namespace
	ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "manual", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "192.0.2.1", ep.Subsets[0].Addresses[0].IP)
}
