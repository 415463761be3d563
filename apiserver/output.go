package apiserver

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

// writeObject writes obj, or the view of it the client asked for (Table,
// PartialObjectMetadata[List]) when res is not nil.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, res *Resource, code int, obj runtime.Object) error {
	var views []string
	if res != nil {
		views = []string{asTable, asPartialObjectMetadata, asPartialObjectMetadataList}
	}
	out, err := s.codecs.negotiateOutput(r, views...)
	if err != nil {
		return err
	}
	if out.as != "" {
		if obj, err = s.view(r, res, out, obj); err != nil {
			return err
		}
	}
	if err := s.codecs.encode(out, isTrue(r.URL.Query().Get("pretty")), obj, w, code); err != nil {
		s.log.ErrorContext(r.Context(), "writing response", "path", r.URL.Path, "err", err)
	}
	return nil
}

// writeError writes err as a metav1.Status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusFor(err)
	if status.Code == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	out, nerr := s.codecs.negotiateOutput(r)
	if nerr != nil {
		out = s.codecs.jsonOutput()
	}
	if err := s.codecs.encode(out, false, status, w, int(status.Code)); err != nil {
		s.log.ErrorContext(r.Context(), "writing error response", "path", r.URL.Path, "err", err)
	}
}

// view converts obj into the requested view.
func (s *Server) view(r *http.Request, res *Resource, out output, obj runtime.Object) (runtime.Object, error) {
	list := meta.IsListType(obj)
	switch out.as {
	case asTable:
		return s.table(r, res, obj)
	case asPartialObjectMetadata:
		if list {
			return nil, notAcceptable("a list cannot be returned as PartialObjectMetadata; ask for PartialObjectMetadataList")
		}
		return partialMetadata(obj, out.asVersion.Version), nil
	case asPartialObjectMetadataList:
		if !list {
			return nil, notAcceptable("a single object cannot be returned as PartialObjectMetadataList; ask for PartialObjectMetadata")
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		pl := &metav1.PartialObjectMetadataList{}
		lm, _ := meta.ListAccessor(obj)
		pl.ResourceVersion, pl.Continue, pl.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
		for _, item := range items {
			pl.Items = append(pl.Items, *partialMetadata(item, out.asVersion.Version))
		}
		return pl, nil
	}
	return obj, nil
}

func notAcceptable(msg string) error {
	return apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", msg, 0, false)
}

// partialMetadata is obj's whole ObjectMeta (labels, annotations, owners,
// ...) as a PartialObjectMetadata: what metadata-only clients and the rows
// of a Table (kubectl get --show-labels) read.
func partialMetadata(obj runtime.Object, version string) *metav1.PartialObjectMetadata {
	a := mustAccessor(obj)
	// The accessor of a typed object is the object itself; its ObjectMeta
	// comes from GetObjectMeta.
	om, ok := a.(*metav1.ObjectMeta)
	if oma, isOMA := obj.(metav1.ObjectMetaAccessor); !ok && isOMA {
		om, ok = oma.GetObjectMeta().(*metav1.ObjectMeta)
	}
	if !ok {
		om = &metav1.ObjectMeta{Name: a.GetName(), Namespace: a.GetNamespace(), UID: a.GetUID(), ResourceVersion: a.GetResourceVersion(),
			Labels: a.GetLabels(), Annotations: a.GetAnnotations(), CreationTimestamp: a.GetCreationTimestamp(), DeletionTimestamp: a.GetDeletionTimestamp(),
			OwnerReferences: a.GetOwnerReferences(), Finalizers: a.GetFinalizers(), Generation: a.GetGeneration(), GenerateName: a.GetGenerateName()}
	}
	p := &metav1.PartialObjectMetadata{ObjectMeta: *om.DeepCopy()}
	p.APIVersion, p.Kind = metav1.GroupName+"/"+version, "PartialObjectMetadata"
	return p
}

// Table column descriptions, as Kubernetes words them.
var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
)

// table renders obj (one object or a list) as the Table kubectl get prints.
func (s *Server) table(r *http.Request, res *Resource, obj runtime.Object) (*metav1.Table, error) {
	include := metav1.IncludeMetadata
	switch v := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); v {
	case "":
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		include = v
	default:
		return nil, apierrors.NewBadRequest("includeObject must be None, Metadata or Object")
	}
	cols := append([]metav1.TableColumnDefinition{nameColumn}, res.Columns...)
	if i := ageIndex(res); i >= 0 {
		cols = insertAt(cols, i, ageColumn)
	}
	t := &metav1.Table{ColumnDefinitions: cols}
	items := []runtime.Object{obj}
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		lm, _ := meta.ListAccessor(obj)
		t.ResourceVersion, t.Continue, t.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
	} else {
		t.ResourceVersion = mustAccessor(obj).GetResourceVersion()
	}
	t.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		t.Rows = append(t.Rows, s.tableRow(res, item, include))
	}
	return t, nil
}

func (s *Server) tableRow(res *Resource, item runtime.Object, include metav1.IncludeObjectPolicy) metav1.TableRow {
	a := mustAccessor(item)
	cells := []any{a.GetName()}
	if res.Cells != nil {
		cells = append(cells, res.Cells(item)...)
		for i, c := range cells {
			if t, ok := c.(sinceCell); ok {
				cells[i] = s.age(metav1.Time(t))
			}
		}
	}
	if i := ageIndex(res); i >= 0 {
		cells = insertAt(cells, i, any(s.age(a.GetCreationTimestamp())))
	}
	row := metav1.TableRow{Cells: cells}
	switch include {
	case metav1.IncludeMetadata:
		row.Object.Object = partialMetadata(item, "v1")
	case metav1.IncludeObject:
		row.Object.Object = item
	}
	return row
}

// sinceCell is a cell that Cells returns for a past time which the table
// shows as the time elapsed since then on the server's clock, like the Age
// column ("5m"): a cron job's Last Schedule.
type sinceCell metav1.Time

// age renders a timestamp as kubectl does ("5m", "3d4h", "<unknown>").
func (s *Server) age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(s.now().Sub(t.Time))
}

func joinOr(items []string, empty string) string {
	if len(items) == 0 {
		return empty
	}
	return strings.Join(items, ",")
}

// ageIndex is where the Age column goes: after Name and the columns that
// kubectl get always prints, before the -o wide ones (Priority > 0); right
// after Name for the resources that kubectl prints so (ageFirst).
func ageIndex(res *Resource) int {
	if res.noAge {
		return -1
	}
	if res.ageFirst {
		return 1
	}
	i := 1
	for _, c := range res.Columns {
		if c.Priority > 0 {
			break
		}
		i++
	}
	return i
}

func insertAt[T any](s []T, i int, v T) []T {
	if i > len(s) {
		i = len(s)
	}
	s = append(s, v)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}
