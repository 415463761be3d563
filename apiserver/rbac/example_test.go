package rbac_test

import (
	"context"
	"fmt"
	"log"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/rbac"
	"github.com/gantryhq/gantry/store/memory"
)

// Decide requests by a fixed policy: bob may read pods in "dev".
func ExampleNew() {
	policy := &rbac.StaticPolicy{
		Roles: []*rbacv1.Role{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "pod-reader"},
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
		}},
		RoleBindingList: []*rbacv1.RoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "bob"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}},
		}},
	}
	z, err := rbac.New(rbac.Options{Policy: policy})
	if err != nil {
		log.Fatal(err)
	}
	bob := &apiserver.UserInfo{Name: "bob"}
	for _, ns := range []string{"dev", "prod"} {
		d, reason, _ := z.Authorize(context.Background(), apiserver.Attributes{
			User: bob, Verb: "list", ResourceRequest: true, Resource: "pods", Namespace: ns,
		})
		fmt.Println(ns, d == apiserver.DecisionAllow, reason)
	}
	// Output:
	// dev true RBAC: allowed by RoleBinding "dev/bob" of Role "dev/pod-reader" to User "bob"
	// prod false RBAC: no role is bound to User "bob"
}

// An API server with RBAC: system:masters first, then RBAC over a cache of
// the store. Run the cache, and apply the bootstrap policy once the server
// serves (with EnsureBootstrapPolicy and an administrator's client).
func ExampleNewStoreCache() {
	st := memory.New(memory.Options{})
	defer st.Close()
	cache, err := rbac.NewStoreCache(rbac.StoreCacheOptions{Store: st})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cache.Run(ctx)
	if err := cache.WaitForSync(ctx); err != nil {
		log.Fatal(err)
	}
	z, _ := rbac.New(rbac.Options{Policy: cache})
	srv, err := apiserver.New(apiserver.Options{
		Store:      st,
		Authorizer: apiserver.Union{apiserver.PrivilegedGroups(apiserver.MastersGroup), z},
	})
	fmt.Println(srv != nil, err)
	// Output: true <nil>
}

// The bootstrap policy names the control-plane identities.
func ExampleBootstrapPolicy() {
	for _, b := range rbac.BootstrapPolicy().ClusterRoleBindings {
		fmt.Println(b.Name, "->", b.Subjects[0].Kind, b.Subjects[0].Name)
	}
	// Output:
	// cluster-admin -> Group system:masters
	// system:basic-user -> Group system:authenticated
	// system:discovery -> Group system:authenticated
	// system:public-info-viewer -> Group system:authenticated
	// system:monitoring -> Group system:monitoring
	// system:kube-scheduler -> User system:kube-scheduler
	// system:kube-controller-manager -> User system:kube-controller-manager
	// system:node -> Group system:nodes
	// system:kube-apiserver-kubelet-client -> User kube-apiserver-kubelet-client
	// system:node-proxier -> User system:kube-proxy
}
