package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gantryhq/gantry/store"
)

// selectors are the label and field selectors of a list or watch.
type selectors struct {
	labels labels.Selector
	fields fields.Selector
}

func (sel selectors) empty() bool { return sel.labels.Empty() && sel.fields.Empty() }

// parseSelectors reads labelSelector and fieldSelector; a malformed selector
// or a field the resource cannot select on is a 400.
func parseSelectors(r *http.Request, res *Resource) (selectors, error) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	known := objectFields(res, res.New())
	for _, req := range fs.Requirements() {
		if _, ok := known[req.Field]; !ok {
			return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return selectors{labels: ls, fields: fs}, nil
}

// objectFields returns the selectable fields of obj.
func objectFields(res *Resource, obj runtime.Object) fields.Set {
	a := mustAccessor(obj)
	set := fields.Set{"metadata.name": a.GetName()}
	if res.Namespaced {
		set["metadata.namespace"] = a.GetNamespace()
	}
	if res.Fields != nil {
		for k, v := range res.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

func (sel selectors) matches(res *Resource, obj runtime.Object) bool {
	if !sel.labels.Empty() && !sel.labels.Matches(labels.Set(mustAccessor(obj).GetLabels())) {
		return false
	}
	return sel.fields.Empty() || sel.fields.Matches(objectFields(res, obj))
}

// listParams are the paging and consistency parameters of a list.
type listParams struct {
	limit     int64
	continue_ string
	// revision to read at; 0 is the latest.
	revision int64
}

func parseListParams(r *http.Request) (listParams, error) {
	q := r.URL.Query()
	var p listParams
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, apierrors.NewBadRequest(fmt.Sprintf("limit must be a non-negative integer, not %q", v))
		}
		p.limit = n
	}
	p.continue_ = q.Get("continue")
	rv := q.Get("resourceVersion")
	match := metav1.ResourceVersionMatch(q.Get("resourceVersionMatch"))
	if p.continue_ != "" && rv != "" && rv != "0" {
		return p, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	switch match {
	case "", metav1.ResourceVersionMatchNotOlderThan:
		if rv != "" {
			if _, err := parseRV(rv); err != nil {
				return p, err
			}
		}
	case metav1.ResourceVersionMatchExact:
		if rv == "" || rv == "0" {
			return p, apierrors.NewBadRequest("resourceVersionMatch=Exact requires a resourceVersion other than 0")
		}
		n, err := parseRV(rv)
		if err != nil {
			return p, err
		}
		p.revision = n
	default:
		return p, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch must be Exact or NotOlderThan, not %q", match))
	}
	if match != "" && rv == "" {
		return p, apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	return p, nil
}

func parseRV(rv string) (int64, error) {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", rv))
	}
	return n, nil
}

// listResult is one page of a filtered list.
type listResult struct {
	revision  int64
	continue_ string
	remaining *int64
}

// listObjects reads the objects of res in namespace (all when empty) that
// match sel, as one page when p.limit is set. Pages are read at one
// revision; when the selectors filter out items, it reads on until the page
// is full or the list is exhausted.
func (s *Server) listObjects(ctx context.Context, res *Resource, namespace string, sel selectors, p listParams) ([]runtime.Object, listResult, error) {
	prefix := s.objectPrefix(res, namespace)
	opts := store.ListOptions{Limit: p.limit, Continue: p.continue_, Revision: p.revision}
	var out []runtime.Object
	var result listResult
	for {
		page, err := s.opts.Store.List(ctx, prefix, opts)
		if err != nil {
			if p.continue_ != "" && apierrors.IsResourceExpired(storeError(err, res.GroupResource(), "")) {
				return nil, result, errGone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
			}
			if apierrors.IsBadRequest(storeError(err, res.GroupResource(), "")) && p.continue_ != "" {
				return nil, result, apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v", err))
			}
			return nil, result, storeError(err, res.GroupResource(), "")
		}
		result.revision = page.Revision
		for i, kv := range page.Items {
			obj, err := s.decodeStored(res, kv.Value, kv.ModRevision)
			if err != nil {
				return nil, result, apierrors.NewInternalError(err)
			}
			if !sel.matches(res, obj) {
				continue
			}
			out = append(out, obj)
			if p.limit > 0 && int64(len(out)) == p.limit && (i < len(page.Items)-1 || page.Continue != "") {
				// The page is full; the next one starts after this key.
				result.continue_ = store.EncodeContinue(prefix, page.Revision, kv.Key+"\x00")
				if sel.empty() {
					rem := page.Remaining + int64(len(page.Items)-1-i)
					result.remaining = &rem
				}
				return out, result, nil
			}
		}
		if page.Continue == "" || p.limit == 0 {
			return out, result, nil
		}
		opts = store.ListOptions{Limit: p.limit, Continue: page.Continue}
	}
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	sel, err := parseSelectors(r, res)
	if err != nil {
		return err
	}
	p, err := parseListParams(r)
	if err != nil {
		return err
	}
	items, result, err := s.listObjects(r.Context(), res, info.Namespace, sel, p)
	if err != nil {
		return err
	}
	list := res.NewList()
	if err := meta.SetList(list, items); err != nil {
		return apierrors.NewInternalError(err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	lm.SetResourceVersion(strconv.FormatInt(result.revision, 10))
	lm.SetContinue(result.continue_)
	lm.SetRemainingItemCount(result.remaining)
	return s.writeObject(w, r, res, http.StatusOK, list)
}
