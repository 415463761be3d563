package alwayspullimages_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/alwayspullimages"
)

// A multi-tenant master adds the plugin to its admission chain.
func ExampleNew() {
	p := alwayspullimages.New()
	_ = apiserver.Options{Admission: []any{p}}

	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/private:1", ImagePullPolicy: corev1.PullIfNotPresent}}}}
	req := &apiserver.AdmissionRequest{Operation: apiserver.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod}
	_ = p.Admit(context.Background(), req)
	fmt.Println(pod.Spec.Containers[0].ImagePullPolicy)
	// Output: Always
}
