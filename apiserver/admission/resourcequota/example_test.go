package resourcequota_test

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/resourcequota"
	"github.com/gantryhq/gantry/store"
	"github.com/gantryhq/gantry/store/memory"
)

// The plugin charges quotas in the API server's store; it goes last in
// the admission chain.
func ExampleNew() {
	ctx := context.Background()
	st := memory.New(memory.Options{})
	defer st.Close()
	p, _ := resourcequota.New(resourcequota.Options{Store: st})
	srv, _ := apiserver.New(apiserver.Options{Store: st, Admission: []any{ /* limit ranger, ..., */ p}})
	_ = srv // serve it; here the plugin is called directly.

	// A quota as the API server stores it: its status filled by Admit.
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q1", Namespace: "default"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: q("1")}},
	}
	_ = p.Admit(ctx, &apiserver.AdmissionRequest{Operation: apiserver.Create, Resource: corev1.SchemeGroupVersion.WithResource("resourcequotas"), Object: q})
	fmt.Println("used:", q.Status.Used.Pods())
	value, _ := json.Marshal(q)
	_, _ = st.Create(ctx, store.ObjectKey("resourcequotas", "default", "q1"), value, store.WriteOptions{})

	for _, name := range []string{"a", "b"} {
		err := p.Validate(ctx, &apiserver.AdmissionRequest{Operation: apiserver.Create,
			Resource: corev1.SchemeGroupVersion.WithResource("pods"), Namespace: "default", Name: name, Object: pod(name, "")})
		fmt.Println(name, err)
	}
	// Output:
	// used: 0
	// a <nil>
	// b exceeded quota: q1, requested: pods=1, used: pods=1, limited: pods=1
}
