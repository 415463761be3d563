package rbac_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/apiserver/rbac"
	"github.com/gantryhq/gantry/store/memory"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 2*time.Millisecond, "timed out waiting for %s", what)
}

// TestStoreCacheTwoServers: roles written through one API server reach the
// cache of another over the same store, changes and deletions too.
func TestStoreCacheTwoServers(t *testing.T) {
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	a := apiservertest.Start(t, apiserver.Options{Store: st})
	cache, err := rbac.NewStoreCache(rbac.StoreCacheOptions{Store: st, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := cache.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	z, _ := rbac.New(rbac.Options{Policy: cache})
	bob := &apiserver.UserInfo{Name: "bob"}
	can := func(verb, ns string) bool {
		d, _, _ := z.Authorize(ctx, apiserver.Attributes{User: bob, Verb: verb, ResourceRequest: true, Resource: "pods", Namespace: ns})
		return d == apiserver.DecisionAllow
	}

	_, err = a.Client.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "r"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "b"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "bob"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the binding", func() bool { return can("list", "default") })
	if can("list", "other") || can("delete", "default") {
		t.Error("the role grants more than list in default")
	}
	r, _ := a.Client.RbacV1().Roles("default").Get(ctx, "r", metav1.GetOptions{})
	r.Rules[0].Verbs = append(r.Rules[0].Verbs, "delete")
	if _, err := a.Client.RbacV1().Roles("default").Update(ctx, r, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new verb", func() bool { return can("delete", "default") })
	if err := a.Client.RbacV1().RoleBindings("default").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the binding to go", func() bool { return !can("list", "default") })

	// A new binding after a deletion.
	_, err = a.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "b2"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "bob"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b2", func() bool { return can("list", "default") })
	if len(cache.RoleBindings("default")) != 1 || len(cache.RoleBindings("other")) != 0 {
		t.Errorf("RoleBindings: %d in default, %d in other", len(cache.RoleBindings("default")), len(cache.RoleBindings("other")))
	}
}

// TestBootstrapPolicy: the policy is applied on start, survives a second
// run, extends existing roles without dropping what users added, and
// leaves autoupdate=false objects alone.
func TestBootstrapPolicy(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
	ctx := context.Background()
	crs := s.Client.RbacV1().ClusterRoles()

	view, err := crs.Get(ctx, "view", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A user extends view and strips edit of a rule; edit opts out.
	view.Rules = append(view.Rules, rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}})
	if _, err := crs.Update(ctx, view, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	admin, _ := crs.Get(ctx, "admin", metav1.GetOptions{})
	admin.Rules = admin.Rules[1:]
	if _, err := crs.Update(ctx, admin, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	edit, _ := crs.Get(ctx, "edit", metav1.GetOptions{})
	edit.Annotations[rbac.AutoUpdateAnnotation] = "false"
	edit.Rules = nil
	if _, err := crs.Update(ctx, edit, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.RbacV1().ClusterRoleBindings().Delete(ctx, "system:basic-user", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := rbac.EnsureBootstrapPolicy(ctx, s.Client, rbac.BootstrapPolicy()); err != nil {
		t.Fatal(err)
	}
	view, _ = crs.Get(ctx, "view", metav1.GetOptions{})
	if !rbac.Covers(view.Rules, rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}) {
		t.Error("the user's rule in view is gone")
	}
	admin, _ = crs.Get(ctx, "admin", metav1.GetOptions{})
	for _, r := range rbac.BootstrapPolicy().ClusterRoles[1].Rules {
		if !rbac.Covers(admin.Rules, r) {
			t.Errorf("admin lacks %v after reconciling", r)
		}
	}
	edit, _ = crs.Get(ctx, "edit", metav1.GetOptions{})
	if len(edit.Rules) != 0 {
		t.Error("edit (autoupdate=false) was changed")
	}
	if _, err := s.Client.RbacV1().ClusterRoleBindings().Get(ctx, "system:basic-user", metav1.GetOptions{}); err != nil {
		t.Errorf("system:basic-user binding not made again: %v", err)
	}
}

// TestWithRBAC: a server started WithRBAC denies by default and runs the
// components' identities through the bootstrap roles.
func TestWithRBAC(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
	ctx := context.Background()
	for _, tt := range []struct {
		user   string
		groups []string
		do     func(cs kubernetes.Interface) error
		allow  bool
	}{
		{"bob", nil, func(cs kubernetes.Interface) error {
			_, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{rbac.SchedulerUser, nil, func(cs kubernetes.Interface) error {
			_, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{rbac.SchedulerUser, nil, func(cs kubernetes.Interface) error {
			_, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			return err
		}, false},
		{rbac.ControllerManagerUser, nil, func(cs kubernetes.Interface) error {
			_, err := cs.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{rbac.ProxyUser, nil, func(cs kubernetes.Interface) error {
			_, err := cs.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
			return err
		}, true},
		{rbac.ProxyUser, nil, func(cs kubernetes.Interface) error {
			return cs.CoreV1().Services("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{})
		}, false},
		{"system:node:n1", []string{rbac.NodesGroup}, func(cs kubernetes.Interface) error {
			_, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
			return err
		}, true},
	} {
		err := tt.do(kubernetes.NewForConfigOrDie(s.ConfigFor(tt.user, tt.groups...)))
		if tt.allow && err != nil {
			t.Errorf("%s: %v, want allowed", tt.user, err)
		}
		if !tt.allow && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "RBAC")) {
			t.Errorf("%s: %v, want forbidden by RBAC", tt.user, err)
		}
	}
	// Anonymous requests are denied, with the user named.
	anonCfg := *s.Config
	anonCfg.BearerToken = ""
	anon := kubernetes.NewForConfigOrDie(&anonCfg)
	_, err := anon.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "system:anonymous"`) {
		t.Errorf("anonymous: %v", err)
	}
}

// TestEscalation: users may grant only what they hold, unless they may
// escalate or bind.
func TestEscalation(t *testing.T) {
	s := apiservertest.Start(t, apiserver.Options{}, apiservertest.WithRBAC())
	ctx := context.Background()
	admin := s.Client
	bob := kubernetes.NewForConfigOrDie(s.ConfigFor("bob"))
	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	role := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	}
	binding := func(name, kind, roleName string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: "bob"}},
		}
	}
	podsRead := rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	rbacWrite := rbacv1.PolicyRule{Verbs: []string{"create", "update"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles", "rolebindings"}}
	_, err := admin.RbacV1().Roles("default").Create(ctx, role("manager", podsRead, rbacWrite), metav1.CreateOptions{})
	mustCreate(err)
	_, err = admin.RbacV1().RoleBindings("default").Create(ctx, binding("bob-manager", "Role", "manager"), metav1.CreateOptions{})
	mustCreate(err)

	waitFor(t, "bob's role", func() bool {
		_, err := bob.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil
	})
	_, err = bob.RbacV1().Roles("default").Create(ctx, role("deleter", rbacv1.PolicyRule{Verbs: []string{"delete"}, APIGroups: []string{""}, Resources: []string{"pods"}}), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "attempting to grant RBAC permissions not currently held") {
		t.Errorf("a role with more than bob holds: %v", err)
	}
	_, err = bob.RbacV1().RoleBindings("default").Create(ctx, binding("bob-admin", "ClusterRole", "cluster-admin"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `may not bind ClusterRole "cluster-admin"`) {
		t.Errorf("binding cluster-admin: %v", err)
	}
	_, err = bob.RbacV1().Roles("default").Create(ctx, role("reader", podsRead), metav1.CreateOptions{})
	mustCreate(err)
	_, err = bob.RbacV1().RoleBindings("default").Create(ctx, binding("bob-reader", "Role", "reader"), metav1.CreateOptions{})
	mustCreate(err)

	// With bind on view, bob may bind view although he lacks its rules.
	_, err = admin.RbacV1().Roles("default").Create(ctx, role("view-binder", rbacv1.PolicyRule{
		Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"view"},
	}), metav1.CreateOptions{})
	mustCreate(err)
	_, err = admin.RbacV1().RoleBindings("default").Create(ctx, binding("bob-view-binder", "Role", "view-binder"), metav1.CreateOptions{})
	mustCreate(err)
	waitFor(t, "bind on view", func() bool {
		_, err := bob.RbacV1().RoleBindings("default").Create(ctx, binding("bob-view", "ClusterRole", "view"), metav1.CreateOptions{})
		return err == nil
	})

	// A namespace admin (admin bound in kube-public) may hand out edit
	// there, but not cluster-admin, and not edit elsewhere.
	alice := kubernetes.NewForConfigOrDie(s.ConfigFor("alice"))
	adminBinding := binding("alice-admin", "ClusterRole", "admin")
	adminBinding.Subjects[0].Name = "alice"
	_, err = admin.RbacV1().RoleBindings("kube-public").Create(ctx, adminBinding, metav1.CreateOptions{})
	mustCreate(err)
	waitFor(t, "alice's admin binding", func() bool {
		_, err := alice.RbacV1().RoleBindings("kube-public").Create(ctx, binding("carol-edit", "ClusterRole", "edit"), metav1.CreateOptions{})
		return err == nil
	})
	_, err = alice.RbacV1().RoleBindings("kube-public").Create(ctx, binding("carol-root", "ClusterRole", "cluster-admin"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a namespace admin binds cluster-admin: %v", err)
	}
	_, err = alice.RbacV1().RoleBindings("default").Create(ctx, binding("carol-edit", "ClusterRole", "edit"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a namespace admin binds in another namespace: %v", err)
	}
}
