package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func validRevision() *appsv1.ControllerRevision {
	return &appsv1.ControllerRevision{
		ObjectMeta: meta("web-5d8f"),
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"$patch":"replace"}}}`)},
		Revision:   2,
	}
}

func TestControllerRevision(t *testing.T) {
	runCreate(t, validRevision, []testCase[*appsv1.ControllerRevision]{
		{"valid", func(*appsv1.ControllerRevision) {}, nil},
		{"revision 0", func(cr *appsv1.ControllerRevision) { cr.Revision = 0 }, nil},
		{"negative revision", func(cr *appsv1.ControllerRevision) { cr.Revision = -1 }, []want{invalid("revision")}},
		{"no data", func(cr *appsv1.ControllerRevision) { cr.Data = runtime.RawExtension{} }, []want{required("data")}},
		{"bad name", func(cr *appsv1.ControllerRevision) { cr.Name = "Web" }, []want{invalid("metadata.name")}},
	})
	runUpdate(t, validRevision, false, []testCase[*appsv1.ControllerRevision]{
		{"labels", func(cr *appsv1.ControllerRevision) { cr.Labels = map[string]string{"app": "web"} }, nil},
		{"renumbered", func(cr *appsv1.ControllerRevision) { cr.Revision = 7 }, nil},
		{"same data re-encoded", func(cr *appsv1.ControllerRevision) {
			cr.Data.Raw = []byte(`{ "spec": {"template": {"$patch": "replace"}} }`)
		}, nil},
		{"data changed", func(cr *appsv1.ControllerRevision) {
			cr.Data.Raw = []byte(`{"spec":{"template":{"metadata":{}}}}`)
		}, []want{invalid("data")}},
		{"data removed", func(cr *appsv1.ControllerRevision) { cr.Data = runtime.RawExtension{} }, []want{required("data"), invalid("data")}},
		{"negative revision", func(cr *appsv1.ControllerRevision) { cr.Revision = -1 }, []want{invalid("revision")}},
	})
}
