package defaulttolerationseconds_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/defaulttolerationseconds"
)

// A master lists the plugin in its admission chain; pods created without
// tolerations of a lost node leave it five minutes after it went.
func ExampleNew() {
	p, err := defaulttolerationseconds.New(defaulttolerationseconds.Options{})
	if err != nil {
		panic(err)
	}
	_ = apiserver.Options{Admission: []any{p}}

	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}
	req := &apiserver.AdmissionRequest{Operation: apiserver.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod}
	_ = p.Admit(context.Background(), req)
	for _, t := range pod.Spec.Tolerations {
		fmt.Println(t.Key, t.Operator, t.Effect, *t.TolerationSeconds)
	}
	// Output:
	// node.kubernetes.io/not-ready Exists NoExecute 300
	// node.kubernetes.io/unreachable Exists NoExecute 300
}
