package validation

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestValidObjectsPass(t *testing.T) {
	for _, obj := range []runtime.Object{
		validPod(), validDeployment(), validReplicaSet(), validDaemonSet(), validStatefulSet(),
		validRC(), validJob(), validCronJob(), validService(), validNode(), validEndpoints(), validSlice(), validLease(),
	} {
		t.Run(fmt.Sprintf("%T", obj), func(t *testing.T) {
			checkErrs(t, Validate(obj))
			checkErrs(t, ValidateUpdate(obj, obj.DeepCopyObject()))
		})
	}
}
