package validation

import (
	"bytes"
	"encoding/json"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ControllerRevision validates a controller revision: revision >= 0 and
// data present.
func ControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := ObjectMeta(&cr.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, controllerRevisionContent(cr)...)
}

func controllerRevisionContent(cr *appsv1.ControllerRevision) field.ErrorList {
	errs := nonNegative(cr.Revision, field.NewPath("revision"))
	if len(bytes.TrimSpace(cr.Data.Raw)) == 0 && cr.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return errs
}

// ControllerRevisionUpdate validates an update of a controller revision:
// metadata rules, the new content and immutable data. As in Kubernetes
// the revision number may change: controllers renumber a revision whose
// template comes back.
func ControllerRevisionUpdate(newCR, oldCR *appsv1.ControllerRevision) field.ErrorList {
	errs := ObjectMetaUpdate(&newCR.ObjectMeta, &oldCR.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, controllerRevisionContent(newCR)...)
	if !sameJSON(newCR.Data.Raw, oldCR.Data.Raw) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "", "field is immutable"))
	}
	return errs
}

// sameJSON reports whether a and b are the same bytes or encode the same
// JSON value (a client may re-encode the data it read).
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
