package controllermanager_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller/controllermanager"
	"github.com/gantryhq/gantry/controller/controllertest"
)

const wait = 30 * time.Second

func deployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
			},
		},
	}
}

func healthz(t *testing.T, cm *controllermanager.ControllerManager) string {
	t.Helper()
	resp, err := http.Get("http://" + cm.Addr().String() + "/healthz")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestFailover runs two controller managers on one API server: one leads,
// and when it stops the other takes over and keeps reconciling.
func TestFailover(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	ctx := context.Background()
	newCM := func(id string) *controllermanager.ControllerManager {
		cm, err := controllermanager.NewControllerManager(controllermanager.Options{
			Config: s.Config, LeaderElect: true, Identity: id, Address: "127.0.0.1:0",
			LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond,
		})
		require.NoError(t, err)
		return cm
	}
	a, b := newCM("a"), newCM("b")
	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	controllertest.Eventually(t, wait, "a leads", func() (bool, error) { return a.IsLeader(), nil })
	go func() { doneB <- b.Run(ctxB) }()
	defer func() { stopA(); stopB(); <-doneB }()
	controllertest.Eventually(t, wait, "b serves health", func() (bool, error) { return b.Addr() != nil, nil })
	require.Equal(t, "ok", healthz(t, a))
	require.Equal(t, "ok", healthz(t, b), "a standby is healthy")
	require.False(t, b.IsLeader())

	_, err := cs.AppsV1().Deployments("default").Create(ctx, deployment("web", 2), metav1.CreateOptions{})
	require.NoError(t, err)
	pods := func(n int) func() (bool, error) {
		return func() (bool, error) {
			l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			return err == nil && len(l.Items) == n, err
		}
	}
	controllertest.Eventually(t, wait, "a created 2 pods", pods(2))
	// The default ServiceAccount comes from the leader too.
	controllertest.Eventually(t, wait, "default serviceaccount", func() (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})

	stopA()
	require.NoError(t, <-doneA)
	controllertest.Eventually(t, wait, "b takes over", func() (bool, error) { return b.IsLeader(), nil })
	lease, err := cs.CoordinationV1().Leases("kube-system").Get(ctx, "gantry-controller-manager", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "b", *lease.Spec.HolderIdentity)
	_, err = cs.AppsV1().Deployments("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	controllertest.Eventually(t, wait, "b scaled to 4", pods(4))
}

func TestUnknownControllerIsAnError(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cm, err := controllermanager.NewControllerManager(controllermanager.Options{Config: s.Config, Controllers: []string{"*", "-nosuch"}})
	require.NoError(t, err)
	require.ErrorContains(t, cm.Run(context.Background()), "nosuch")
	_, err = controllermanager.NewControllerManager(controllermanager.Options{})
	require.Error(t, err)
}

func ExampleNewControllerManager() {
	s, err := controllertest.New(context.Background(), apiserver.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	cm, err := controllermanager.NewControllerManager(controllermanager.Options{
		Config:      s.Config,
		Controllers: []string{"*", "-nodelifecycle"},
		Address:     fmt.Sprintf("127.0.0.1:%d", 0), // controllermanager.DefaultPort in a real cluster
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(cm.Manager().EnabledNames())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- cm.Run(ctx) }()
	for !cm.IsLeader() {
		<-time.After(10 * time.Millisecond)
	}
	cancel()
	fmt.Println(<-done)
	// Output:
	// [replicaset replicationcontroller deployment endpoint endpointslice namespace serviceaccount garbagecollector job cronjob daemonset statefulset resourcequota podgc]
	// <nil>
}

func TestClientConfig(t *testing.T) {
	base := &rest.Config{Host: "https://example", UserAgent: "mine"}
	pb := controllermanager.ClientConfig(base, "")
	require.Equal(t, "application/vnd.kubernetes.protobuf", pb.ContentType)
	require.Equal(t, "application/vnd.kubernetes.protobuf,application/json", pb.AcceptContentTypes)
	require.Equal(t, "mine", pb.UserAgent)
	require.Empty(t, base.ContentType, "the caller's config is not changed")
	js := controllermanager.ClientConfig(&rest.Config{}, "application/json")
	require.Equal(t, "application/json", js.ContentType)
	require.Empty(t, js.AcceptContentTypes)
	require.Equal(t, "gantry-controller-manager", js.UserAgent)

	// kube-controller-manager's rate by default, not client-go's 5/s; a
	// configured rate (or no limit, -1) is kept.
	require.EqualValues(t, controllermanager.DefaultQPS, pb.QPS)
	require.Equal(t, controllermanager.DefaultBurst, pb.Burst)
	require.Zero(t, base.QPS, "the caller's config is not changed")
	require.EqualValues(t, -1, controllermanager.ClientConfig(&rest.Config{QPS: -1}, "").QPS)
	mine := controllermanager.ClientConfig(&rest.Config{QPS: 7, Burst: 9}, "")
	require.EqualValues(t, 7, mine.QPS)
	require.Equal(t, 9, mine.Burst)
}

// TestControllersSpeakProtobuf: the controllers' client asks the API
// server for protobuf and decodes its answers.
func TestControllersSpeakProtobuf(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	var mu sync.Mutex
	var got []string
	cfg := rest.CopyConfig(s.Config)
	cfg.WrapTransport = func(next http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(r)
			if err == nil {
				mu.Lock()
				got = append(got, resp.Header.Get("Content-Type"))
				mu.Unlock()
			}
			return resp, err
		})
	}
	cm, err := controllermanager.NewControllerManager(controllermanager.Options{Config: cfg})
	require.NoError(t, err)
	ns, err := cm.Manager().Client().CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "default", ns.Name)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"application/vnd.kubernetes.protobuf"}, got)
}
