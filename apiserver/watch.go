package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/gantryhq/gantry/store"
)

// initialEventsEndAnnotation marks the bookmark that ends the initial events
// of a watch with sendInitialEvents=true.
const initialEventsEndAnnotation = "k8s.io/initial-events-end"

// watchParams are the parameters of a watch request.
type watchParams struct {
	sel        selectors
	after      int64 // watch the changes after this revision
	initial    bool  // send the current state as ADDED events first
	initialEnd bool  // ... followed by the initial-events-end bookmark
	bookmarks  bool
	timeout    time.Duration
}

func (s *Server) parseWatchParams(r *http.Request, res *Resource, info requestInfo) (watchParams, error) {
	q := r.URL.Query()
	var p watchParams
	var err error
	if p.sel, err = parseSelectors(r, res); err != nil {
		return p, err
	}
	if info.Name != "" {
		// GET /<resource>/<name>?watch=1 watches one object.
		byName := fields.OneTermEqualSelector("metadata.name", info.Name)
		p.sel.fields = fields.AndSelectors(p.sel.fields, byName)
	}
	p.bookmarks = isTrue(q.Get("allowWatchBookmarks"))
	rv := q.Get("resourceVersion")
	sendInitial := q.Get("sendInitialEvents")
	switch {
	case sendInitial != "":
		b, err := strconv.ParseBool(sendInitial)
		if err != nil {
			return p, apierrors.NewBadRequest(fmt.Sprintf("sendInitialEvents must be a boolean, not %q", sendInitial))
		}
		if q.Get("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) {
			return p, apierrors.NewBadRequest("sendInitialEvents requires resourceVersionMatch=NotOlderThan")
		}
		if b && !p.bookmarks {
			return p, apierrors.NewBadRequest("sendInitialEvents=true requires allowWatchBookmarks=true")
		}
		p.initial, p.initialEnd = b, b
		if !b && rv != "" && rv != "0" {
			if p.after, err = parseRV(rv); err != nil {
				return p, err
			}
		}
	case rv == "" || rv == "0":
		// The legacy "get state and watch" form.
		p.initial = true
	default:
		if p.after, err = parseRV(rv); err != nil {
			return p, err
		}
	}
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, apierrors.NewBadRequest(fmt.Sprintf("timeoutSeconds must be a non-negative integer, not %q", v))
		}
		p.timeout = time.Duration(n) * time.Second
	}
	if p.timeout == 0 {
		min := s.opts.MinRequestTimeout
		p.timeout = min + time.Duration(rand.Int64N(int64(min)))
	}
	return p, nil
}

// handleWatch streams the changes of a resource as watch events.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	if info.Subresource != "" {
		return apierrors.NewMethodNotSupported(res.GroupResource(), "watch")
	}
	p, err := s.parseWatchParams(r, res, info)
	if err != nil {
		return err
	}
	out, err := s.codecs.negotiateOutput(r, asTable, asPartialObjectMetadata)
	if err != nil {
		return err
	}
	if out.info.StreamSerializer == nil {
		return notAcceptable(fmt.Sprintf("%s cannot be streamed; watch with JSON or protobuf", out.info.MediaType))
	}

	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()

	var initial []runtime.Object
	if p.initial {
		var result listResult
		initial, result, err = s.listObjects(ctx, res, info.Namespace, p.sel, listParams{})
		if err != nil {
			return err
		}
		p.after = result.revision
	}
	events, err := s.opts.Store.Watch(ctx, s.objectPrefix(res, info.Namespace), p.after)

	s.metrics.watchers.WithLabelValues(res.GroupVersionKind.Group, res.Plural).Inc()
	defer s.metrics.watchers.WithLabelValues(res.GroupVersionKind.Group, res.Plural).Dec()

	ww := &watchWriter{s: s, r: r, res: res, out: out, w: w, rc: http.NewResponseController(w)}
	ww.enc = streaming.NewEncoder(out.info.StreamSerializer.Framer.NewFrameWriter(w), out.info.StreamSerializer.Serializer)
	w.Header().Set("Content-Type", out.info.MediaType)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	if err != nil {
		// A watch from a compacted revision: say so as an ERROR event, as
		// client-go's reflector expects, and end.
		ww.writeError(storeWatchError(err, p.after))
		return nil
	}
	if !ww.flush() {
		return nil
	}

	for _, obj := range initial {
		if !ww.write(watch.Added, obj, nil) {
			return nil
		}
	}
	if p.initialEnd && !ww.bookmark(p.after, true) {
		return nil
	}
	if len(initial) > 0 && !p.initialEnd && !ww.flush() {
		return nil
	}

	last := p.after
	var bookmarks <-chan time.Time
	if p.bookmarks {
		t := time.NewTicker(s.opts.BookmarkInterval)
		defer t.Stop()
		bookmarks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-bookmarks:
			if !ww.bookmark(last, false) {
				return nil
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Type == store.EventError {
				ww.writeError(storeWatchError(ev.Err, last))
				return nil
			}
			last = ev.Revision
			se := s.shared.get(res.GroupVersionKind, ev.Key, ev.Revision, len(ev.Value)+len(ev.PrevValue))
			typ, obj, err := s.watchEvent(res, p.sel, ev, se)
			if err != nil {
				ww.writeError(apierrors.NewInternalError(err))
				return nil
			}
			if obj != nil && !ww.write(typ, obj, se) {
				return nil
			}
			// Events already waiting go out in the same write: one
			// flush (a system call) per burst, not per event.
			if len(events) == 0 && !ww.flush() {
				return nil
			}
		}
	}
}

// watchEvent turns a store event into the watch event a client with the
// given selectors sees: an object that stops matching is DELETED for it, one
// that starts matching ADDED. A nil object means the client sees nothing.
// The event's values are decoded once for every watcher (se); the objects
// returned are shared and must not be changed.
func (s *Server) watchEvent(res *Resource, sel selectors, ev store.Event, se *sharedEvent) (watch.EventType, runtime.Object, error) {
	cur, prev, err := se.decode(func() (cur, prev runtime.Object, err error) {
		if ev.Value != nil {
			if cur, err = s.decodeStored(res, ev.Value, ev.Revision); err != nil {
				return nil, nil, err
			}
		}
		if ev.PrevValue != nil {
			if prev, err = s.decodeStored(res, ev.PrevValue, ev.Revision); err != nil {
				return nil, nil, err
			}
		}
		return cur, prev, nil
	})
	if err != nil {
		return "", nil, err
	}
	switch ev.Type {
	case store.EventCreate:
		if sel.matches(res, cur) {
			return watch.Added, cur, nil
		}
	case store.EventUpdate:
		curOK := sel.matches(res, cur)
		prevOK := prev != nil && sel.matches(res, prev)
		switch {
		case curOK && prevOK:
			return watch.Modified, cur, nil
		case curOK:
			return watch.Added, cur, nil
		case prevOK:
			return watch.Deleted, cur, nil
		}
	case store.EventDelete:
		if prev != nil && sel.matches(res, prev) {
			return watch.Deleted, prev, nil
		}
	}
	return "", nil, nil
}

func storeWatchError(err error, rev int64) error {
	if errors.Is(err, store.ErrCompacted) {
		return errGone(fmt.Sprintf("too old resource version: %d", rev))
	}
	return storeError(err, schema.GroupResource{}, "")
}

// watchWriter encodes watch events onto a response.
type watchWriter struct {
	s   *Server
	r   *http.Request
	res *Resource
	out output
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc streaming.Encoder
}

// write sends one event without flushing it; false means the client is
// gone. se, when set, is the store event obj is shared from: the
// encoding of obj is then shared too.
func (ww *watchWriter) write(typ watch.EventType, obj runtime.Object, se *sharedEvent) bool {
	if ww.out.as != "" {
		if se != nil {
			// A view may hold on to obj (a Table row's object) and be
			// encoded with it: give it its own copy.
			obj = obj.DeepCopyObject()
		}
		v, err := ww.s.view(ww.r, ww.res, ww.out, obj)
		if err != nil {
			return ww.writeError(err)
		}
		obj, se = v, nil
	}
	return ww.send(typ, obj, se)
}

// send writes one event as it is, without flushing it.
func (ww *watchWriter) send(typ watch.EventType, obj runtime.Object, se *sharedEvent) bool {
	var raw []byte
	var err error
	if se != nil {
		raw, err = se.encoding(obj, ww.out.info.MediaType, func() ([]byte, error) { return ww.encode(obj) })
	} else {
		raw, err = ww.encode(obj)
	}
	if err != nil {
		ww.s.log.ErrorContext(ww.r.Context(), "encoding watch event", "err", err)
		return false
	}
	return ww.enc.Encode(&metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: raw}}) == nil
}

// encode returns obj in the watch's media type, in a new slice.
func (ww *watchWriter) encode(obj runtime.Object) ([]byte, error) {
	gvks, _, err := ww.s.codecs.scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := ww.s.codecs.factory.WithoutConversion().EncoderForVersion(ww.out.info.Serializer, gvks[0].GroupVersion())
	if err := enc.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func (ww *watchWriter) flush() bool {
	return ww.rc.Flush() == nil
}

// bookmark sends a BOOKMARK event at rev.
func (ww *watchWriter) bookmark(rev int64, initialEnd bool) bool {
	var obj runtime.Object
	if ww.out.as == asTable {
		obj = &metav1.Table{}
	} else {
		obj = ww.res.New()
	}
	if ww.out.as == asTable {
		obj.(*metav1.Table).ResourceVersion = strconv.FormatInt(rev, 10)
	} else {
		a := mustAccessor(obj)
		a.SetResourceVersion(strconv.FormatInt(rev, 10))
		if initialEnd {
			a.SetAnnotations(map[string]string{initialEventsEndAnnotation: "true"})
		}
		obj.GetObjectKind().SetGroupVersionKind(ww.res.GroupVersionKind)
	}
	return ww.send(watch.Bookmark, obj, nil) && ww.flush()
}

// writeError sends an ERROR event carrying err as a Status.
func (ww *watchWriter) writeError(err error) bool {
	if ww.send(watch.Error, statusFor(err), nil) {
		ww.flush()
	}
	return false
}
