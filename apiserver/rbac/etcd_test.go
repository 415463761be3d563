package rbac_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/apiservertest"
	"github.com/gantryhq/gantry/apiserver/rbac"
	etcdstore "github.com/gantryhq/gantry/store/etcd"
	"github.com/gantryhq/gantry/store/etcd/etcdtest"
)

// TestTwoServersOneEtcd: two API servers with RBAC over one etcd apply the
// bootstrap policy at once without harm, and a binding made through one
// decides requests on the other.
func TestTwoServersOneEtcd(t *testing.T) {
	e := etcdtest.StartEmbedded(t, etcdstore.EmbeddedOptions{})
	start := func() *apiservertest.Server {
		st, err := e.NewStore(etcdstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return apiservertest.Start(t, apiserver.Options{Store: st}, apiservertest.WithRBAC())
	}
	a, b := start(), start()
	ctx := context.Background()

	errs := make(chan error, 2)
	for _, s := range []*apiservertest.Server{a, b} {
		go func() { errs <- rbac.EnsureBootstrapPolicy(ctx, s.Client, rbac.BootstrapPolicy()) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent bootstrap: %v", err)
		}
	}

	bobOnB := kubernetes.NewForConfigOrDie(b.ConfigFor("bob"))
	if _, err := bobOnB.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("bob may list pods before any binding")
	}
	_, err := a.Client.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-view"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "bob"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the binding on the other server", func() bool {
		_, err := bobOnB.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil
	})
	if err := a.Client.RbacV1().RoleBindings("default").Delete(ctx, "bob-view", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion on the other server", func() bool {
		_, err := bobOnB.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err != nil
	})
}
