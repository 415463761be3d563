package openapi

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Media types of the documents.
const (
	MediaTypeJSON = "application/json"
	// MediaTypeV2Protobuf is what client-go asks /openapi/v2 for.
	MediaTypeV2Protobuf = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	// mediaTypeV2ProtobufReturned is the Content-Type Kubernetes answers with.
	mediaTypeV2ProtobufReturned = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
)

var _ http.Handler = (*Documents)(nil)

// ServeHTTP serves GET and HEAD of /openapi/v2, /openapi/v3 and
// /openapi/v3/<group-version path>, and answers 404 for any other path, so
// that it can be mounted at "/openapi/" of a mux. It never blocks on
// anything but writing the response.
//
// /openapi/v2 is JSON or protobuf, chosen by the Accept header (406 when
// neither is acceptable). A v3 document requested with a stale hash is
// redirected to the current one; with the current hash it is marked
// immutable for clients' HTTP caches. All answers carry an ETag and honor
// If-None-Match.
func (d *Documents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch path := strings.TrimSuffix(r.URL.Path, "/"); {
	case path == "/openapi/v2":
		d.serveV2(w, r)
	case path == "/openapi/v3":
		serve(w, r, MediaTypeJSON, d.v3ETag, d.v3Index)
	case strings.HasPrefix(path, "/openapi/v3/"):
		d.serveV3(w, r, strings.TrimPrefix(path, "/openapi/v3/"))
	default:
		http.NotFound(w, r)
	}
}

func (d *Documents) serveV2(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	switch negotiate(r.Header.Get("Accept"), MediaTypeJSON, MediaTypeV2Protobuf, mediaTypeV2ProtobufReturned) {
	case MediaTypeJSON:
		serve(w, r, MediaTypeJSON, d.v2ETag, d.v2JSON)
	case MediaTypeV2Protobuf, mediaTypeV2ProtobufReturned:
		serve(w, r, mediaTypeV2ProtobufReturned, d.v2ETag, d.v2Proto)
	default:
		http.Error(w, "acceptable media types: "+MediaTypeJSON+", "+MediaTypeV2Protobuf, http.StatusNotAcceptable)
	}
}

func (d *Documents) serveV3(w http.ResponseWriter, r *http.Request, gv string) {
	doc, ok := d.v3[gv]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Add("Vary", "Accept")
	if negotiate(r.Header.Get("Accept"), MediaTypeJSON) == "" {
		http.Error(w, "acceptable media type: "+MediaTypeJSON, http.StatusNotAcceptable)
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.hash {
			http.Redirect(w, r, "/openapi/v3/"+gv+"?hash="+doc.hash, http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	serve(w, r, MediaTypeJSON, doc.hash, doc.json)
}

func serve(w http.ResponseWriter, r *http.Request, contentType, etag string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Etag", strconv.Quote(etag))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// negotiate picks the first of offers that the Accept header allows,
// honoring quality values; "" if none. An empty header accepts anything.
func negotiate(accept string, offers ...string) string {
	if strings.TrimSpace(accept) == "" {
		return offers[0]
	}
	type clause struct {
		typ, sub string
		q        float64
	}
	var clauses []clause
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, params, _ := strings.Cut(part, ";")
		typ, sub, _ := strings.Cut(strings.TrimSpace(mediaType), "/")
		c := clause{typ: typ, sub: sub, q: 1}
		for p := range strings.SplitSeq(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && k == "q" {
				if q, err := strconv.ParseFloat(v, 64); err == nil {
					c.q = q
				}
			}
		}
		if c.q > 0 {
			clauses = append(clauses, c)
		}
	}
	slices.SortStableFunc(clauses, func(a, b clause) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	for _, c := range clauses {
		for _, offer := range offers {
			typ, sub, _ := strings.Cut(offer, "/")
			if (c.typ == "*" || c.typ == typ) && (c.sub == "*" || c.sub == sub) {
				return offer
			}
		}
	}
	return ""
}
