package cluster_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/cluster"
	"github.com/gantryhq/gantry/pki"
)

// eventually retries f until it returns nil (the authorizer's cache
// catches up with new roles within a watch round trip).
func eventually(t *testing.T, f func() error) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.NoError(c, f()) }, 10*time.Second, 5*time.Millisecond, "still failing after 10s")
}

func TestRBAC(t *testing.T) {
	t.Parallel()
	m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
	ctx := context.Background()
	bob := kubernetes.NewForConfigOrDie(m.ConfigFor("bob", "dev"))

	t.Run("no role", func(t *testing.T) {
		_, err := bob.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		require.True(t, apierrors.IsForbidden(err), "got %v", err)
		require.Contains(t, err.Error(), `pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"`)
		require.Contains(t, err.Error(), "RBAC: no rule of the roles bound to User \"bob\" allows it")
		_, err = bob.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		require.True(t, apierrors.IsForbidden(err), "got %v", err)
		require.Contains(t, err.Error(), `nodes "n1" is forbidden: User "bob" cannot get resource "nodes" in API group ""`)
	})

	t.Run("role binding", func(t *testing.T) {
		_, err := m.Client.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = m.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "bob-reads-pods"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: "bob"}}, // apiGroup defaulted
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		eventually(t, func() error { _, err := bob.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); return err })
		_, err = bob.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
		require.True(t, apierrors.IsForbidden(err), "other namespace: %v", err)
		_, err = bob.CoreV1().Pods("default").Create(ctx, testPod("p", ""), metav1.CreateOptions{})
		require.True(t, apierrors.IsForbidden(err), "create: %v", err)
	})

	t.Run("cluster role binding for a group", func(t *testing.T) {
		_, err := m.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-view"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{{Kind: "Group", Name: "dev"}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		eventually(t, func() error {
			_, err := bob.AppsV1().Deployments("kube-system").List(ctx, metav1.ListOptions{})
			return err
		})
		_, err = bob.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
		require.True(t, apierrors.IsForbidden(err), "view does not read secrets: %v", err)
	})

	t.Run("resource names", func(t *testing.T) {
		_, err := m.Client.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "update"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = m.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "builder-config"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "app-config"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder", Namespace: "default"}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		for _, name := range []string{"app", "db"} {
			_, err = m.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
			require.NoError(t, err)
		}
		sa := kubernetes.NewForConfigOrDie(m.ConfigFor("system:serviceaccount:default:builder", "system:serviceaccounts", "system:serviceaccounts:default"))
		eventually(t, func() error {
			_, err := sa.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
			return err
		})
		_, err = sa.CoreV1().ConfigMaps("default").Get(ctx, "db", metav1.GetOptions{})
		require.True(t, apierrors.IsForbidden(err), "other name: %v", err)
		_, err = sa.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		require.True(t, apierrors.IsForbidden(err), "list: %v", err)
		require.Contains(t, err.Error(), `User "system:serviceaccount:default:builder" cannot list resource "configmaps"`)
		other := kubernetes.NewForConfigOrDie(m.ConfigFor("system:serviceaccount:kube-system:builder", "system:serviceaccounts", "system:serviceaccounts:kube-system"))
		_, err = other.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
		require.True(t, apierrors.IsForbidden(err), "service account of another namespace: %v", err)
	})

	t.Run("access reviews", func(t *testing.T) {
		review := func(cs kubernetes.Interface, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) *authorizationv1.SelfSubjectAccessReview {
			t.Helper()
			r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra, NonResourceAttributes: nra},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			return r
		}
		require.True(t, review(bob, &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "list", Resource: "pods"}, nil).Status.Allowed)
		r := review(bob, &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "delete", Resource: "pods"}, nil)
		require.False(t, r.Status.Allowed)
		require.Contains(t, r.Status.Reason, "RBAC")
		require.True(t, review(bob, nil, &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/healthz"}).Status.Allowed)
		require.False(t, review(bob, nil, &authorizationv1.NonResourceAttributes{Verb: "get", Path: "/metrics"}).Status.Allowed)
		require.True(t, review(m.Client, &authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes"}, nil).Status.Allowed)

		_, err := bob.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
		require.True(t, apierrors.IsInvalid(err), "empty spec: %v", err)

		sar, err := m.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "bob", Groups: []string{"dev"}, ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "pods", Subresource: "log"},
		}}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.True(t, sar.Status.Allowed, "%+v", sar.Status)
		_, err = bob.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		require.True(t, apierrors.IsForbidden(err), "bob may not review others: %v", err)

		rules, err := bob.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		require.NotEmpty(t, rules.Status.ResourceRules)
	})

	t.Run("non-resource paths", func(t *testing.T) {
		get := func(cs kubernetes.Interface, path string) error {
			_, err := cs.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
			return err
		}
		for _, p := range []string{"/version", "/api", "/apis/apps/v1", "/openapi/v2", "/healthz"} {
			require.NoError(t, get(bob, p), "%s: system:discovery", p)
		}
		err := get(bob, "/metrics")
		require.True(t, apierrors.IsForbidden(err), "/metrics: %v", err)
		require.NoError(t, get(m.Client, "/metrics"))
		monitor := kubernetes.NewForConfigOrDie(m.ConfigFor("prometheus", "system:monitoring"))
		require.NoError(t, get(monitor, "/metrics"))
	})

	t.Run("validation", func(t *testing.T) {
		rb, err := m.Client.RbacV1().RoleBindings("default").Get(ctx, "bob-reads-pods", metav1.GetOptions{})
		require.NoError(t, err)
		rb.RoleRef.Name = "app-config"
		_, err = m.Client.RbacV1().RoleBindings("default").Update(ctx, rb, metav1.UpdateOptions{})
		require.True(t, apierrors.IsInvalid(err), "roleRef change: %v", err)
		require.Contains(t, err.Error(), "cannot change roleRef")
		for name, obj := range map[string]*rbacv1.ClusterRoleBinding{
			"role kind": {ObjectMeta: metav1.ObjectMeta{Name: "x"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "view"}},
			"no name":   {ObjectMeta: metav1.ObjectMeta{Name: "x"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole"}},
			"sa without namespace": {ObjectMeta: metav1.ObjectMeta{Name: "x"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}}},
		} {
			_, err := m.Client.RbacV1().ClusterRoleBindings().Create(ctx, obj, metav1.CreateOptions{})
			require.True(t, apierrors.IsInvalid(err), "%s: %v", name, err)
		}
		_, err = m.Client.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "bad"},
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}},
		}, metav1.CreateOptions{})
		require.True(t, apierrors.IsInvalid(err), "non-resource URL in a role: %v", err)
	})
}

func testPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestNodeRestriction(t *testing.T) {
	t.Parallel()
	m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
	ctx := context.Background()
	n1 := kubernetes.NewForConfigOrDie(m.ConfigFor("system:node:n1", pki.NodesGroup))
	node := func(name string) *corev1.Node { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }

	_, err := n1.CoreV1().Nodes().Create(ctx, node("n1"), metav1.CreateOptions{})
	require.NoError(t, err, "own node")
	_, err = n1.CoreV1().Nodes().Create(ctx, node("n2"), metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "another node: %v", err)
	_, err = m.Client.CoreV1().Nodes().Create(ctx, node("n2"), metav1.CreateOptions{})
	require.NoError(t, err)
	n2, err := n1.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
	require.NoError(t, err, "nodes read other nodes")
	n2.Labels = map[string]string{"x": "y"}
	_, err = n1.CoreV1().Nodes().Update(ctx, n2, metav1.UpdateOptions{})
	require.True(t, apierrors.IsForbidden(err), "update another node: %v", err)
	require.Contains(t, err.Error(), `node "n1" may only change its own Node object`)
	_, err = n1.CoreV1().Nodes().UpdateStatus(ctx, n2, metav1.UpdateOptions{})
	require.True(t, apierrors.IsForbidden(err), "another node's status: %v", err)

	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: corev1.NamespaceNodeLease}}
	_, err = n1.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease, metav1.CreateOptions{})
	require.NoError(t, err, "own lease")
	lease.Name = "n2"
	_, err = n1.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "another node's lease: %v", err)

	for _, p := range []*corev1.Pod{testPod("on-n1", "n1"), testPod("on-n2", "n2")} {
		_, err := m.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	mine, err := n1.CoreV1().Pods("default").Get(ctx, "on-n1", metav1.GetOptions{})
	require.NoError(t, err)
	mine.Status.Phase = corev1.PodRunning
	_, err = n1.CoreV1().Pods("default").UpdateStatus(ctx, mine, metav1.UpdateOptions{})
	require.NoError(t, err, "status of own pod")

	theirs, err := n1.CoreV1().Pods("default").Get(ctx, "on-n2", metav1.GetOptions{})
	require.NoError(t, err)
	theirs.Status.Phase = corev1.PodFailed
	_, err = n1.CoreV1().Pods("default").UpdateStatus(ctx, theirs, metav1.UpdateOptions{})
	require.True(t, apierrors.IsForbidden(err), "status of another node's pod: %v", err)
	require.Contains(t, err.Error(), `node "n1" may not update pod "default/on-n2": it is bound to node "n2"`)
	err = n1.CoreV1().Pods("default").Delete(ctx, "on-n2", metav1.DeleteOptions{})
	require.True(t, apierrors.IsForbidden(err), "delete another node's pod: %v", err)
	err = n1.PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "on-n2", Namespace: "default"}})
	require.True(t, apierrors.IsForbidden(err), "evict another node's pod: %v", err)
	_, err = n1.CoreV1().Pods("default").Create(ctx, testPod("new", "n1"), metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "create a plain pod: %v", err)
	_, err = n1.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "create a secret: %v", err)

	// Secrets: only those its pods refer to, one by one.
	for _, name := range []string{"mine", "theirs"} {
		_, err := m.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	withSecret := testPod("with-secret", "n1")
	withSecret.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mine"}}}}
	_, err = m.Client.CoreV1().Pods("default").Create(ctx, withSecret, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = n1.CoreV1().Secrets("default").Get(ctx, "mine", metav1.GetOptions{})
	require.NoError(t, err, "a secret its pod refers to (at once: the index falls back to the store)")
	_, err = n1.CoreV1().Secrets("default").Get(ctx, "theirs", metav1.GetOptions{})
	require.True(t, apierrors.IsForbidden(err), "a secret no pod of it refers to: %v", err)
	require.Contains(t, err.Error(), `no pod bound to it refers to "default/theirs"`)
	_, err = n1.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	require.True(t, apierrors.IsForbidden(err), "list secrets: %v", err)
	require.NoError(t, n1.CoreV1().Pods("default").Delete(ctx, "on-n1", metav1.DeleteOptions{}), "delete own pod")
}

// TestKubectlRBAC: real kubectl with a restricted kubeconfig gets
// Forbidden, and kubectl auth can-i answers for it.
func TestKubectlRBAC(t *testing.T) {
	t.Parallel()
	k := newKubectl(t)
	m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
	admin, jane := k.kubeconfigFor(m, "admin", pki.MastersGroup), k.kubeconfigFor(m, "jane")
	run, must := k.run, k.must

	out, err := run(jane, "get", "pods")
	require.Error(t, err)
	require.Contains(t, out, `Error from server (Forbidden): pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"`)
	require.Equal(t, "no", mustFail(t, run, jane, "auth", "can-i", "list", "pods"))
	require.Equal(t, "yes", answer(must(jane, "auth", "can-i", "create", "selfsubjectaccessreviews.authorization.k8s.io")))

	must(admin, "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods")
	must(admin, "create", "rolebinding", "jane-reads", "--role=pod-reader", "--user=jane")
	must(admin, "create", "clusterrolebinding", "jane-nodes", "--clusterrole=view", "--user=jane")
	require.Contains(t, must(admin, "get", "clusterroles"), "cluster-admin")
	require.Contains(t, must(admin, "get", "rolebindings", "-o", "wide"), "Role/pod-reader")
	require.Contains(t, must(admin, "describe", "role", "pod-reader"), "pods")
	require.Contains(t, must(admin, "describe", "clusterrolebinding", "jane-nodes"), "jane")

	eventually(t, func() error { _, err := run(jane, "get", "pods"); return err })
	require.Equal(t, "yes", answer(must(jane, "auth", "can-i", "list", "pods")))
	require.Equal(t, "no", mustFail(t, run, jane, "auth", "can-i", "delete", "pods"))
	require.Equal(t, "no", mustFail(t, run, jane, "auth", "can-i", "list", "secrets", "-n", "kube-system"))
	require.Equal(t, "yes", answer(must(jane, "auth", "can-i", "get", "/healthz")))
	require.Equal(t, "yes", answer(must(admin, "auth", "can-i", "delete", "nodes")))
	out = must(jane, "auth", "whoami")
	require.Contains(t, out, "jane")
	require.Contains(t, out, "system:authenticated")
	out = must(jane, "auth", "can-i", "--list", "-n", "default")
	require.Contains(t, out, "selfsubjectaccessreviews.authorization.k8s.io")
	require.Contains(t, out, "pods")
}

// kubectl runs the real kubectl, with a test's temporary directory as
// HOME (for its cache) and kubeconfig files.
type kubectl struct {
	t        *testing.T
	bin, dir string
}

// newKubectl skips the test when kubectl is not on PATH.
func newKubectl(t *testing.T) *kubectl {
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH")
	}
	return &kubectl{t: t, bin: bin, dir: t.TempDir()}
}

// kubeconfigFor writes a kubeconfig for m with a new client certificate of
// user in groups and returns its path.
func (k *kubectl) kubeconfigFor(m *cluster.TestMaster, user string, groups ...string) string {
	c, err := m.CA.Issue(pki.CertRequest{CommonName: user, Organization: groups, Usage: pki.ClientAuth})
	require.NoError(k.t, err)
	path := filepath.Join(k.dir, user)
	require.NoError(k.t, pki.WriteKubeconfig(path, pki.Kubeconfig{Server: m.URL, CA: m.CA.CertPEM(), ClientCert: c.CertPEM, ClientKey: c.KeyPEM, User: user}))
	return path
}

// run runs kubectl with the kubeconfig cfg and returns its trimmed output.
func (k *kubectl) run(cfg string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", cfg, "--request-timeout=20s"}, args...)...)
	cmd.Env = append(cmd.Environ(), "HOME="+k.dir)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// must is run that fails the test when kubectl fails.
func (k *kubectl) must(cfg string, args ...string) string {
	k.t.Helper()
	out, err := k.run(cfg, args...)
	require.NoError(k.t, err, "kubectl %v: %s", args, out)
	return out
}

// mustFail runs a kubectl that is to exit non-zero (can-i answers no with
// exit code 1) and returns its output.
func mustFail(t *testing.T, run func(string, ...string) (string, error), cfg string, args ...string) string {
	t.Helper()
	out, err := run(cfg, args...)
	require.Error(t, err, "kubectl %v: %s", args, out)
	return answer(out)
}

// answer is kubectl auth can-i's answer: the last line, without the
// reason ("no - RBAC: ...").
func answer(out string) string {
	lines := strings.Split(out, "\n")
	a, _, _ := strings.Cut(lines[len(lines)-1], " - ")
	return a
}

// TestNodeAgentUnderRBAC: a node agent with its own identity registers,
// heartbeats and runs its pods with nothing but the bootstrap policy.
func TestNodeAgentUnderRBAC(t *testing.T) {
	t.Parallel()
	m := cluster.StartTestMasterWithOptions(t, cluster.TestMasterOptions{RBAC: true})
	ctx, cancel := context.WithCancel(context.Background())
	n, err := cluster.NewNode(cluster.NodeConfig{
		Name: "rbac-node", RESTConfig: m.ConfigFor("system:node:rbac-node", pki.NodesGroup),
		Runtime: cluster.RuntimeFake, NodeIP: netip.MustParseAddr("127.0.0.1"), ServeAddress: "127.0.0.1:0",
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	_, err = m.Client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"MODE": "fast"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	pod := testPod("runs", "rbac-node")
	pod.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
	_, err = m.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, func() error {
		p, err := m.Client.CoreV1().Pods("default").Get(context.Background(), "runs", metav1.GetOptions{})
		if err == nil && p.Status.Phase != corev1.PodRunning {
			err = fmt.Errorf("phase %q", p.Status.Phase)
		}
		return err
	})
	_, err = m.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), "rbac-node", metav1.GetOptions{})
	require.NoError(t, err, "the node's heartbeat lease")
}
