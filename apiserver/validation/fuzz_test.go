package validation

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/apiserver/defaults"
)

func hasError(errs field.ErrorList, typ field.ErrorType, path string) bool {
	for _, e := range errs {
		if e.Type == typ && e.Field == path {
			return true
		}
	}
	return false
}

// FuzzValidatePod decodes random JSON into a Pod, defaults and validates it
// as a create, an update and a status update, and checks that nothing
// panics, that defaulting is idempotent, and that an update that changes
// nothing is never reported as a forbidden spec change.
func FuzzValidatePod(f *testing.F) {
	valid, err := json.Marshal(validPod())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"metadata":{"name":"a","namespace":"b"},"spec":{"containers":[{"name":"c","image":"i"}]}}`))
	f.Add([]byte(`{"spec":{"containers":[{"ports":[{"containerPort":0,"hostPort":99999}],"resources":{"limits":{"cpu":"-1"}}}],` +
		`"volumes":[{"name":"v","hostPath":{"path":"../x"},"emptyDir":{}}],"tolerations":[{"operator":"Exists","value":"x"}],` +
		`"hostNetwork":true,"dnsPolicy":"None","activeDeadlineSeconds":-1}}`))
	f.Add([]byte(`{"spec":{"initContainers":[{"name":"i","restartPolicy":"Always","livenessProbe":{"grpc":{"port":1}}}],` +
		`"ephemeralContainers":[{"name":"e","targetContainerName":"x"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{}}}},` +
		`"status":{"podIPs":[{"ip":"::1"},{"ip":"1.2.3.4"},{"ip":"x"}]}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var pod corev1.Pod
		if err := json.Unmarshal(data, &pod); err != nil {
			return
		}
		defaults.Apply(&pod)
		again := pod.DeepCopy()
		defaults.Apply(again)
		if !equality.Semantic.DeepEqual(&pod, again) {
			t.Fatalf("defaults are not idempotent for %s", data)
		}

		_ = Validate(&pod)
		_ = ValidateStatusUpdate(&pod, validPod())
		_ = ValidateUpdate(validPod(), &pod)
		for _, e := range ValidateUpdate(&pod, pod.DeepCopy()) {
			if e.Type == field.ErrorTypeForbidden && e.Field == "spec" {
				t.Fatalf("unchanged pod reported as a forbidden change: %v", e)
			}
		}
		changed := pod.DeepCopy()
		for i := range changed.Spec.Containers {
			changed.Spec.Containers[i].Image += "x"
		}
		_ = ValidateUpdate(changed, &pod)
		for i := range changed.Spec.Containers {
			changed.Spec.Containers[i].Command = append(changed.Spec.Containers[i].Command, "x")
		}
		changed.Spec.NodeName += "x"
		errs := ValidateUpdate(changed, &pod)
		if len(pod.Spec.Containers) > 0 && !hasError(errs, field.ErrorTypeForbidden, "spec") {
			t.Fatalf("changed command not reported: %v", errs)
		}
	})
}
