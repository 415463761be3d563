package history_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/controller/history"
)

func TestTemplatePatch(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Annotations: map[string]string{"a": "b"}},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "agent:2"}}},
		}},
	}
	b, err := history.TemplatePatch(ds)
	require.NoError(t, err)
	require.JSONEq(t, `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"agent"}},
		"spec":{"containers":[{"name":"c","image":"agent:2","resources":{}}]}}}}`, string(b))

	_, err = history.TemplatePatch(&corev1.ConfigMap{})
	require.ErrorContains(t, err, "no spec.template")
}
