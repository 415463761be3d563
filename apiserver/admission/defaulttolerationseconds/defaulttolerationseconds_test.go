package defaulttolerationseconds_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/apiserver/admission/defaulttolerationseconds"
)

func tol(key string, op corev1.TolerationOperator, effect corev1.TaintEffect, seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: op, Effect: effect, TolerationSeconds: seconds}
}

var (
	notReady300    = tol(corev1.TaintNodeNotReady, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](300))
	unreachable300 = tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](300))
)

func TestAdmit(t *testing.T) {
	own := tol(corev1.TaintNodeNotReady, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](60))
	everything := corev1.Toleration{Operator: corev1.TolerationOpExists}
	tests := []struct {
		name      string
		opts      defaulttolerationseconds.Options
		op        apiserver.Operation
		resource  string
		sub       string
		tols, out []corev1.Toleration
	}{
		{name: "no tolerations gets both", out: []corev1.Toleration{notReady300, unreachable300}},
		{name: "its own not-ready toleration stays, only unreachable added",
			tols: []corev1.Toleration{own}, out: []corev1.Toleration{own, unreachable300}},
		{name: "tolerating everything gets none", tols: []corev1.Toleration{everything}, out: []corev1.Toleration{everything}},
		{name: "a key with every effect tolerates NoExecute",
			tols: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, "", nil)},
			out:  []corev1.Toleration{tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, "", nil), notReady300}},
		{name: "operator Equal with no value tolerates the valueless taint",
			tols: []corev1.Toleration{tol(corev1.TaintNodeNotReady, corev1.TolerationOpEqual, corev1.TaintEffectNoExecute, nil)},
			out:  []corev1.Toleration{tol(corev1.TaintNodeNotReady, corev1.TolerationOpEqual, corev1.TaintEffectNoExecute, nil), unreachable300}},
		{name: "NoSchedule tolerations do not count",
			tols: []corev1.Toleration{tol(corev1.TaintNodeNotReady, corev1.TolerationOpExists, corev1.TaintEffectNoSchedule, nil)},
			out:  []corev1.Toleration{tol(corev1.TaintNodeNotReady, corev1.TolerationOpExists, corev1.TaintEffectNoSchedule, nil), notReady300, unreachable300}},
		{name: "other keys do not count",
			tols: []corev1.Toleration{tol("dedicated", corev1.TolerationOpExists, corev1.TaintEffectNoExecute, nil)},
			out:  []corev1.Toleration{tol("dedicated", corev1.TolerationOpExists, corev1.TaintEffectNoExecute, nil), notReady300, unreachable300}},
		{name: "configured seconds", opts: defaulttolerationseconds.Options{NotReadySeconds: ptr.To[int64](0), UnreachableSeconds: ptr.To[int64](90)},
			out: []corev1.Toleration{
				tol(corev1.TaintNodeNotReady, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](0)),
				tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](90)),
			}},
		{name: "updates untouched", op: apiserver.Update},
		{name: "deletes untouched", op: apiserver.Delete},
		{name: "subresources untouched", sub: "status"},
		{name: "other resources untouched", resource: "podtemplates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := defaulttolerationseconds.New(tt.opts)
			require.NoError(t, err)
			if tt.op == "" {
				tt.op = apiserver.Create
			}
			if tt.resource == "" {
				tt.resource = "pods"
			}
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tols, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
			req := &apiserver.AdmissionRequest{Operation: tt.op, Resource: corev1.SchemeGroupVersion.WithResource(tt.resource),
				Subresource: tt.sub, Namespace: "ns", Name: "p", Object: pod}
			if tt.op == apiserver.Update {
				req.OldObject = pod.DeepCopy()
			}
			require.NoError(t, p.Admit(context.Background(), req))
			require.Equal(t, tt.out, pod.Spec.Tolerations)
		})
	}
}

// TestPodsDoNotShare: each pod gets its own tolerationSeconds, so that
// changing one pod's does not change the next pod's default.
func TestPodsDoNotShare(t *testing.T) {
	p, err := defaulttolerationseconds.New(defaulttolerationseconds.Options{})
	require.NoError(t, err)
	admit := func() *corev1.Pod {
		pod := &corev1.Pod{}
		require.NoError(t, p.Admit(context.Background(), &apiserver.AdmissionRequest{
			Operation: apiserver.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod}))
		return pod
	}
	first := admit()
	*first.Spec.Tolerations[0].TolerationSeconds = 1
	require.Equal(t, []corev1.Toleration{notReady300, unreachable300}, admit().Spec.Tolerations)
}

func TestNewRejectsNegativeSeconds(t *testing.T) {
	_, err := defaulttolerationseconds.New(defaulttolerationseconds.Options{NotReadySeconds: ptr.To[int64](-1)})
	require.Error(t, err)
	_, err = defaulttolerationseconds.New(defaulttolerationseconds.Options{UnreachableSeconds: ptr.To[int64](-1)})
	require.Error(t, err)
}
