package nodeagent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"plain":       "plain",
		"$(A)-$(B)":   "1-two",
		"$(MISSING)":  "$(MISSING)",
		"$$(A)":       "$(A)",
		"cost: $$5":   "cost: $5",
		"unclosed $(": "unclosed $(",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPodField(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
	}
	for path, want := range map[string]string{
		"metadata.name": "p", "metadata.namespace": "ns", "metadata.uid": "u", "spec.nodeName": "n1",
		"status.podIP": "10.1.0.2", "status.hostIP": "192.0.2.1", "metadata.labels['app']": "web",
	} {
		got, err := podField(pod, path, "10.1.0.2", "192.0.2.1")
		if err != nil || got != want {
			t.Errorf("podField(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := podField(pod, "spec.bogus", "", ""); err == nil {
		t.Error("podField(spec.bogus): want an error")
	}
}
