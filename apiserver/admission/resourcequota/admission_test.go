package resourcequota_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/resourcequota"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

var q = resource.MustParse

func newStore(t *testing.T) store.Store {
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	return st
}

func put(t *testing.T, st store.Store, resource, ns, name string, obj any) {
	t.Helper()
	value, err := json.Marshal(obj)
	require.NoError(t, err)
	_, err = st.Create(context.Background(), store.ObjectKey(resource, ns, name), value, store.WriteOptions{})
	require.NoError(t, err)
}

func getQuota(t *testing.T, st store.Store, ns, name string) *corev1.ResourceQuota {
	t.Helper()
	kv, err := st.Get(context.Background(), store.ObjectKey("resourcequotas", ns, name))
	require.NoError(t, err)
	rq := &corev1.ResourceQuota{}
	require.NoError(t, json.Unmarshal(kv.Value, rq))
	return rq
}

func quota(name string, hard corev1.ResourceList, used corev1.ResourceList) *corev1.ResourceQuota {
	rq := &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
	if used != nil {
		rq.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: used}
	}
	return rq
}

func pod(name string, cpu string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: q(cpu)}
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: q(cpu)}
	}
	return p
}

func create(resource string, obj runtime.Object) *apiserver.AdmissionRequest {
	return &apiserver.AdmissionRequest{Operation: apiserver.Create, Resource: corev1.SchemeGroupVersion.WithResource(resource),
		Namespace: "ns", Name: "x", Object: obj}
}

func plugin(t *testing.T, st store.Store) *resourcequota.Plugin {
	p, err := resourcequota.New(resourcequota.Options{Store: st})
	require.NoError(t, err)
	return p
}

func TestDenial(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	put(t, st, "resourcequotas", "ns", "q1", quota("q1", corev1.ResourceList{"pods": q("2")}, corev1.ResourceList{"pods": q("2")}))
	err := plugin(t, st).Validate(ctx, create("pods", pod("p", "")))
	require.EqualError(t, err, "exceeded quota: q1, requested: pods=1, used: pods=2, limited: pods=2")
	require.Equal(t, "2", ptr(getQuota(t, st, "ns", "q1").Status.Used["pods"]))
}

func ptr(v resource.Quantity) string { return v.String() }

func TestChargeAndDryRun(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	put(t, st, "resourcequotas", "ns", "compute", quota("compute",
		corev1.ResourceList{"pods": q("5"), "requests.cpu": q("1"), "limits.cpu": q("2")},
		corev1.ResourceList{"pods": q("1"), "requests.cpu": q("200m"), "limits.cpu": q("200m")}))
	p := plugin(t, st)

	dry := create("pods", pod("p", "300m"))
	dry.DryRun = true
	require.NoError(t, p.Validate(ctx, dry))
	require.Equal(t, "200m", ptr(getQuota(t, st, "ns", "compute").Status.Used["requests.cpu"]), "a dry run charges nothing")

	require.NoError(t, p.Validate(ctx, create("pods", pod("p", "300m"))))
	used := getQuota(t, st, "ns", "compute").Status.Used
	require.Equal(t, "2", ptr(used["pods"]))
	require.Equal(t, "500m", ptr(used["requests.cpu"]))

	err := p.Validate(ctx, create("pods", pod("big", "600m")))
	require.EqualError(t, err, "exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=500m, limited: requests.cpu=1")

	err = p.Validate(ctx, create("pods", pod("none", "")))
	require.EqualError(t, err, "failed quota: compute: must specify limits.cpu for: c; requests.cpu for: c")

	// Other kinds pass a quota that does not limit them.
	require.NoError(t, p.Validate(ctx, create("configmaps", &corev1.ConfigMap{})))
}

// TestUnknownUsage: a quota whose status does not know a resource yet
// counts the objects in the store first.
func TestUnknownUsage(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	for i := range 2 {
		put(t, st, "configmaps", "ns", fmt.Sprint("cm", i), &corev1.ConfigMap{})
	}
	put(t, st, "configmaps", "other", "cm", &corev1.ConfigMap{})
	put(t, st, "resourcequotas", "ns", "q", quota("q", corev1.ResourceList{"configmaps": q("3")}, nil))
	p := plugin(t, st)
	require.NoError(t, p.Validate(ctx, create("configmaps", &corev1.ConfigMap{})))
	require.Equal(t, "3", ptr(getQuota(t, st, "ns", "q").Status.Used["configmaps"]))
	require.ErrorContains(t, p.Validate(ctx, create("configmaps", &corev1.ConfigMap{})), "exceeded quota: q, requested: configmaps=1, used: configmaps=3")
}

// TestAdmitQuota: a new quota's status is computed when it is created.
func TestAdmitQuota(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	running, done := pod("a", "100m"), pod("b", "100m")
	done.Status.Phase = corev1.PodSucceeded
	put(t, st, "pods", "ns", "a", running)
	put(t, st, "pods", "ns", "b", done)
	put(t, st, "deployments", "ns", "d", map[string]string{})
	rq := quota("q", corev1.ResourceList{"pods": q("10"), "count/pods": q("10"), "cpu": q("4"), "resourcequotas": q("2"),
		"count/deployments.apps": q("1"), "services.nodeports": q("2")}, nil)
	require.NoError(t, plugin(t, st).Admit(ctx, create("resourcequotas", rq)))
	want := map[corev1.ResourceName]string{"pods": "1", "count/pods": "2", "cpu": "100m", "resourcequotas": "1",
		"count/deployments.apps": "1", "services.nodeports": "0"}
	got := map[corev1.ResourceName]string{}
	for name, v := range rq.Status.Used {
		got[name] = v.String()
	}
	require.Equal(t, want, got)
	require.Len(t, rq.Status.Hard, 6)
}

func TestScopes(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	be := quota("besteffort", corev1.ResourceList{"pods": q("1")}, corev1.ResourceList{"pods": q("1")})
	be.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
	term := quota("terminating", corev1.ResourceList{"pods": q("0")}, corev1.ResourceList{"pods": q("0")})
	term.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
		{ScopeName: corev1.ResourceQuotaScopeTerminating, Operator: corev1.ScopeSelectorOpExists}}}
	put(t, st, "resourcequotas", "ns", "besteffort", be)
	put(t, st, "resourcequotas", "ns", "terminating", term)
	p := plugin(t, st)
	require.ErrorContains(t, p.Validate(ctx, create("pods", pod("a", ""))), "exceeded quota: besteffort")
	require.NoError(t, p.Validate(ctx, create("pods", pod("b", "100m"))), "not best effort")
	deadline := pod("c", "100m")
	deadline.Spec.ActiveDeadlineSeconds = new(int64)
	require.ErrorContains(t, p.Validate(ctx, create("pods", deadline)), "exceeded quota: terminating")
	require.NoError(t, p.Validate(ctx, create("services", &corev1.Service{})), "scoped quotas select pods only")
}

func TestPriorityAndAffinityScopes(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	high := quota("high", corev1.ResourceList{"pods": q("0")}, corev1.ResourceList{"pods": q("0")})
	high.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
		{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high", "critical"}}}}
	cross := quota("cross", corev1.ResourceList{"pods": q("0")}, corev1.ResourceList{"pods": q("0")})
	cross.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeCrossNamespacePodAffinity}
	put(t, st, "resourcequotas", "ns", "high", high)
	put(t, st, "resourcequotas", "ns", "cross", cross)
	p := plugin(t, st)

	low := pod("low", "")
	low.Spec.PriorityClassName = "low"
	require.NoError(t, p.Validate(ctx, create("pods", low)))
	hi := pod("hi", "")
	hi.Spec.PriorityClassName = "critical"
	require.ErrorContains(t, p.Validate(ctx, create("pods", hi)), "exceeded quota: high")

	aff := pod("aff", "")
	aff.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone", Namespaces: []string{"other"}}}}}
	require.ErrorContains(t, p.Validate(ctx, create("pods", aff)), "exceeded quota: cross")
	aff.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].Namespaces = nil
	require.NoError(t, p.Validate(ctx, create("pods", aff)), "affinity within the namespace")
}

func TestServices(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	put(t, st, "resourcequotas", "ns", "svc", quota("svc",
		corev1.ResourceList{"services.nodeports": q("2"), "services.loadbalancers": q("0")},
		corev1.ResourceList{"services.nodeports": q("1"), "services.loadbalancers": q("0")}))
	p := plugin(t, st)
	np := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}
	require.EqualError(t, p.Validate(ctx, create("services", np)),
		"exceeded quota: svc, requested: services.nodeports=2, used: services.nodeports=1, limited: services.nodeports=2")
	// An update from ClusterIP to NodePort with one port charges the
	// difference.
	old := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}
	upd := old.DeepCopy()
	upd.Spec.Type = corev1.ServiceTypeNodePort
	req := create("services", upd)
	req.Operation, req.OldObject = apiserver.Update, old
	require.NoError(t, p.Validate(ctx, req))
	require.Equal(t, "2", ptr(getQuota(t, st, "ns", "svc").Status.Used["services.nodeports"]))
	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: new(bool)}}
	require.ErrorContains(t, p.Validate(ctx, create("services", lb)), "requested: services.loadbalancers=1")
}

// TestDenialReleases: when a second quota denies, what the first was
// charged is given back.
func TestDenialReleases(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	put(t, st, "resourcequotas", "ns", "a", quota("a", corev1.ResourceList{"pods": q("10")}, corev1.ResourceList{"pods": q("3")}))
	put(t, st, "resourcequotas", "ns", "b", quota("b", corev1.ResourceList{"pods": q("3")}, corev1.ResourceList{"pods": q("3")}))
	require.ErrorContains(t, plugin(t, st).Validate(ctx, create("pods", pod("p", ""))), "exceeded quota: b")
	require.Equal(t, "3", ptr(getQuota(t, st, "ns", "a").Status.Used["pods"]))
}

// TestConcurrent: many requests at once through several plugins (as of
// several API servers) never charge more than the quota allows.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	put(t, st, "resourcequotas", "ns", "q", quota("q", corev1.ResourceList{"pods": q("5")}, corev1.ResourceList{"pods": q("0")}))
	plugins := []*resourcequota.Plugin{plugin(t, st), plugin(t, st), plugin(t, st)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 20 {
		wg.Go(func() {
			err := plugins[i%len(plugins)].Validate(ctx, create("pods", pod(fmt.Sprint("p", i), "")))
			if err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
				return
			}
			require.ErrorContains(t, err, "exceeded quota: q")
		})
	}
	wg.Wait()
	require.Equal(t, 5, admitted)
	require.Equal(t, "5", ptr(getQuota(t, st, "ns", "q").Status.Used["pods"]))
}

func TestNew(t *testing.T) {
	_, err := resourcequota.New(resourcequota.Options{})
	require.Error(t, err)
}
