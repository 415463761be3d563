package noderestriction

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver"
)

func TestReferences(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		ServiceAccountName: "builder",
		ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull"}},
		Volumes: []corev1.Volume{
			{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "vol-cm"}}}},
			{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-cm"}}},
			}}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		},
		InitContainers: []corev1.Container{{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "init-env"}}}}}}},
		Containers: []corev1.Container{{
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-cm"}}}},
			Env:     []corev1.EnvVar{{Name: "B", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-cm"}}}}},
		}},
	}}
	for _, tt := range []struct {
		resource, name string
		want           bool
	}{
		{"secrets", "pull", true}, {"secrets", "vol-secret", true}, {"secrets", "proj-secret", true}, {"secrets", "init-env", true},
		{"secrets", "vol-cm", false}, {"secrets", "other", false},
		{"configmaps", "vol-cm", true}, {"configmaps", "proj-cm", true}, {"configmaps", "envfrom-cm", true}, {"configmaps", "env-cm", true},
		{"configmaps", "vol-secret", false},
		{"persistentvolumeclaims", "data", true}, {"persistentvolumeclaims", "other", false},
		{"serviceaccounts", "builder", true}, {"serviceaccounts", "default", false},
		{"nodes", "builder", false},
	} {
		if got := References(pod, tt.resource, tt.name); got != tt.want {
			t.Errorf("References(%s %s) = %v, want %v", tt.resource, tt.name, got, tt.want)
		}
	}
}

// fakePods says that node n1's pods refer to secret default/mine only,
// and fails for namespace "broken".
type fakePods struct{}

func (fakePods) Referenced(_ context.Context, node, resource, namespace, name string) (bool, error) {
	if namespace == "broken" {
		return false, errors.New("store unavailable")
	}
	return node == "n1" && (resource == "secrets" || resource == "serviceaccounts") && namespace == "default" && name == "mine", nil
}

func TestAuthorizerReads(t *testing.T) {
	z := NewAuthorizer(AuthorizerOptions{Pods: fakePods{}})
	attrs := func(verb, resource, name string) apiserver.Attributes {
		return apiserver.Attributes{User: n1, Verb: verb, ResourceRequest: true, Resource: resource, Namespace: "default", Name: name}
	}
	token := func(name string) apiserver.Attributes {
		a := attrs("create", "serviceaccounts", name)
		a.Subresource = "token"
		return a
	}
	for _, tt := range []struct {
		a      apiserver.Attributes
		want   apiserver.Decision
		reason string
	}{
		{attrs("get", "secrets", "mine"), apiserver.DecisionAllow, `a pod bound to node "n1" refers to secret "default/mine"`},
		{attrs("get", "secrets", "theirs"), apiserver.DecisionDeny, `no pod bound to it refers to "default/theirs"`},
		{attrs("list", "secrets", ""), apiserver.DecisionDeny, "one by one"},
		{attrs("watch", "configmaps", ""), apiserver.DecisionDeny, ""},
		{attrs("get", "configmaps", "mine"), apiserver.DecisionDeny, "config map"},
		{attrs("update", "secrets", "mine"), apiserver.DecisionNoOpinion, ""},
		{attrs("get", "services", "x"), apiserver.DecisionNoOpinion, ""},
		{token("mine"), apiserver.DecisionAllow, "runs as service account"},
		{token("theirs"), apiserver.DecisionDeny, `none runs as "default/theirs"`},
	} {
		d, reason, err := z.Authorize(context.Background(), tt.a)
		if err != nil || d != tt.want || !strings.Contains(reason, tt.reason) {
			t.Errorf("%s %s %s: %v %q %v; want %v with %q", tt.a.Verb, tt.a.Resource, tt.a.Name, d, reason, err, tt.want, tt.reason)
		}
	}
	broken := attrs("get", "secrets", "mine")
	broken.Namespace = "broken"
	if d, _, err := z.Authorize(context.Background(), broken); d != apiserver.DecisionDeny || err == nil {
		t.Errorf("a failed lookup: %v %v, want deny with the error", d, err)
	}
}
