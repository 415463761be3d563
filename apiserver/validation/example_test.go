package validation_test

import (
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/apiserver/defaults"
	"github.com/gantryhq/gantry/apiserver/validation"
)

func pod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		}}},
	}
	defaults.Apply(p)
	return p
}

// The API server defaults an object, then validates it; each error has the
// field path and type a Kubernetes API server reports.
func ExampleValidate() {
	p := pod()
	p.Spec.Containers[0].Image = ""
	p.Spec.Containers[0].Ports[0].Protocol = "ICMP"
	for _, err := range validation.Validate(p) {
		fmt.Printf("%s: %s\n", err.Field, err.Type)
	}
	// Output:
	// spec.containers[0].image: Required value
	// spec.containers[0].ports[0].protocol: Unsupported value
}

// A pod's spec is immutable except for images, activeDeadlineSeconds,
// added tolerations and removed scheduling gates.
func ExampleValidateUpdate() {
	old := pod()

	newImage := old.DeepCopy()
	newImage.Spec.Containers[0].Image = "nginx:1.28"
	fmt.Println("image:", len(validation.ValidateUpdate(newImage, old)))

	newCommand := old.DeepCopy()
	newCommand.Spec.Containers[0].Command = []string{"sleep", "infinity"}
	for _, err := range validation.ValidateUpdate(newCommand, old) {
		fmt.Printf("command: %s: %s\n", err.Field, err.Type)
	}
	// Output:
	// image: 0
	// command: spec: Forbidden
}

// Status updates have their own rules: a kubelet may not bind a pod to
// another node through the status.
func ExampleValidateStatusUpdate() {
	old := pod()
	p := old.DeepCopy()
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.7"}}
	p.Status.PodIP = "10.244.1.7"
	fmt.Println(len(validation.ValidateStatusUpdate(p, old)))
	// Output: 0
}

func ExampleValidateScale() {
	s := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       autoscalingv1.ScaleSpec{Replicas: -1},
	}
	fmt.Println(validation.ValidateScale(s).ToAggregate())
	// Output: spec.replicas: Invalid value: -1: must be greater than or equal to 0
}

func ExampleValidateBinding() {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
		Target:     corev1.ObjectReference{Kind: "Node"},
	}
	fmt.Println(validation.ValidateBinding(b).ToAggregate())
	// Output: target.name: Required value
}

// ObjectMeta checks metadata with the naming rule of a kind.
func ExampleObjectMeta() {
	meta := &metav1.ObjectMeta{Name: "node-1", Namespace: "default"}
	rule, _ := validation.Rules(&corev1.Node{})
	fmt.Println(validation.ObjectMeta(meta, rule, field.NewPath("metadata")).ToAggregate())
	// Output: metadata.namespace: Forbidden: not allowed on this type
}
