package apiserver_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store/memory"
)

// Serve the Kubernetes API over an in-memory store and talk to it with
// client-go.
func ExampleNew() {
	st := memory.New(memory.Options{})
	defer st.Close()
	srv, err := apiserver.New(apiserver.Options{Store: st})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := srv.EnsureSystemObjects(ctx); err != nil { // default, kube-system, ...
		panic(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	cs := kubernetes.NewForConfigOrDie(&rest.Config{Host: hs.URL})
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "settings-"},
		Data:       map[string]string{"mode": "fast"},
	}, metav1.CreateOptions{})
	if err != nil {
		panic(err)
	}
	got, _ := cs.CoreV1().ConfigMaps("default").Get(ctx, cm.Name, metav1.GetOptions{})
	fmt.Println(got.Data["mode"], got.UID != "", got.ResourceVersion == cm.ResourceVersion)
	// Output: fast true true
}

// Add a resource: one Resource value. Here the built-in set without
// events, plus nothing else.
func ExampleDefaultResources() {
	var rs []apiserver.Resource
	for _, r := range apiserver.DefaultResources() {
		if r.Plural != "events" {
			rs = append(rs, r)
		}
	}
	st := memory.New(memory.Options{})
	defer st.Close()
	_, err := apiserver.New(apiserver.Options{Store: st, Resources: rs})
	fmt.Println(err)
	// Output: <nil>
}

// Authorizers compose: system:masters may do anything, then the others in
// order; the first that allows or denies decides.
func ExampleUnion() {
	readOnly := apiserver.AuthorizerFunc(func(_ context.Context, a apiserver.Attributes) (apiserver.Decision, string, error) {
		if a.Verb == "get" || a.Verb == "list" || a.Verb == "watch" {
			return apiserver.DecisionAllow, "", nil
		}
		return apiserver.DecisionNoOpinion, "read-only", nil
	})
	z := apiserver.Union{apiserver.PrivilegedGroups(apiserver.MastersGroup), readOnly}
	bob := &apiserver.UserInfo{Name: "bob"}
	admin := &apiserver.UserInfo{Name: "admin", Groups: []string{apiserver.MastersGroup}}
	for _, a := range []apiserver.Attributes{
		{User: bob, Verb: "list", ResourceRequest: true, Resource: "pods"},
		{User: bob, Verb: "delete", ResourceRequest: true, Resource: "pods", Name: "web"},
		{User: admin, Verb: "delete", ResourceRequest: true, Resource: "pods", Name: "web"},
	} {
		d, reason, _ := z.Authorize(context.Background(), a)
		fmt.Printf("%s %s %v %q\n", a.User.Name, a.Verb, d == apiserver.DecisionAllow, reason)
	}
	// Output:
	// bob list true ""
	// bob delete false "read-only"
	// admin delete true "member of the privileged group system:masters"
}
