package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/munnerz/goautoneg"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// newScheme returns a scheme with every built-in Kubernetes type, the meta
// types (Table, PartialObjectMetadata, WatchEvent, options) and discovery.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		metav1.AddMetaToScheme,
		metav1beta1.AddMetaToScheme,
		apidiscoveryv2.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	return s, nil
}

// Views of an object a client can ask for with the "as" media type parameter.
const (
	asTable                     = "Table"
	asPartialObjectMetadata     = "PartialObjectMetadata"
	asPartialObjectMetadataList = "PartialObjectMetadataList"
	asDiscovery                 = "APIGroupDiscoveryList"
)

// output is the negotiated encoding of a response.
type output struct {
	info runtime.SerializerInfo
	// as is the requested view ("" for the object itself).
	as string
	// asVersion is the group/version of that view (meta.k8s.io/v1 ...).
	asVersion schema.GroupVersion
}

// codecs wraps the codec factory with the negotiation rules of the API.
type codecs struct {
	scheme  *runtime.Scheme
	factory serializer.CodecFactory
}

func newCodecs(s *runtime.Scheme) codecs {
	return codecs{scheme: s, factory: serializer.NewCodecFactory(s, serializer.EnablePretty)}
}

// negotiateOutput picks the response encoding from the Accept header. It
// returns a 406 error when nothing acceptable is served. allowed lists the
// "as" views that the endpoint can produce.
func (c codecs) negotiateOutput(r *http.Request, allowed ...string) (output, error) {
	header := r.Header.Get("Accept")
	if header == "" {
		return c.jsonOutput(), nil
	}
	clauses := goautoneg.ParseAccept(header)
	for _, clause := range clauses {
		if clause.Q == 0 {
			continue
		}
		info, ok := c.serializerFor(clause.Type, clause.SubType)
		if !ok {
			continue
		}
		as := clause.Params["as"]
		if as == "" {
			return output{info: info}, nil
		}
		gv := schema.GroupVersion{Group: clause.Params["g"], Version: clause.Params["v"]}
		if !viewAllowed(as, gv, allowed) {
			continue
		}
		return output{info: info, as: as, asVersion: gv}, nil
	}
	return output{}, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", fmt.Sprintf("only the following media types are accepted: %s", strings.Join(c.mediaTypes(), ", ")), 0, false)
}

func viewAllowed(as string, gv schema.GroupVersion, allowed []string) bool {
	for _, a := range allowed {
		if a != as {
			continue
		}
		switch as {
		case asDiscovery:
			return gv == apidiscoveryv2.SchemeGroupVersion
		default:
			return gv.Group == metav1.GroupName && (gv.Version == "v1" || gv.Version == "v1beta1")
		}
	}
	return false
}

func (c codecs) jsonOutput() output {
	info, _ := c.serializerFor("application", "json")
	return output{info: info}
}

func (c codecs) serializerFor(typ, sub string) (runtime.SerializerInfo, bool) {
	for _, info := range c.factory.SupportedMediaTypes() {
		switch {
		case typ == "*" && sub == "*", typ == info.MediaTypeType && sub == "*":
			if info.MediaType == runtime.ContentTypeJSON {
				return info, true
			}
		case typ == info.MediaTypeType && sub == info.MediaTypeSubType:
			return info, true
		}
	}
	return runtime.SerializerInfo{}, false
}

func (c codecs) mediaTypes() []string {
	var out []string
	for _, info := range c.factory.SupportedMediaTypes() {
		out = append(out, info.MediaType)
	}
	return out
}

// decoderFor returns the decoder for a request body's Content-Type; strict
// reports unknown and duplicate fields.
func (c codecs) decoderFor(contentType string, strict bool) (runtime.Decoder, error) {
	if contentType == "" {
		contentType = runtime.ContentTypeJSON
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, errUnsupportedMediaType(contentType, c.mediaTypes())
	}
	for _, info := range c.factory.SupportedMediaTypes() {
		if info.MediaType != mediaType {
			continue
		}
		s := info.Serializer
		if strict && info.StrictSerializer != nil {
			s = info.StrictSerializer
		}
		return c.factory.WithoutConversion().DecoderToVersion(s, nil), nil
	}
	return nil, errUnsupportedMediaType(contentType, c.mediaTypes())
}

// encode writes obj with the negotiated serializer, setting apiVersion and
// kind from the scheme.
func (c codecs) encode(out output, pretty bool, obj runtime.Object, w http.ResponseWriter, code int) error {
	s := out.info.Serializer
	if pretty && out.info.PrettySerializer != nil {
		s = out.info.PrettySerializer
	}
	gvks, _, err := c.scheme.ObjectKinds(obj)
	if err != nil {
		return err
	}
	enc := c.factory.WithoutConversion().EncoderForVersion(s, gvks[0].GroupVersion())
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", out.info.MediaType)
	}
	w.WriteHeader(code)
	return enc.Encode(obj, w)
}

// encodeAs is encode with an explicit Content-Type (aggregated discovery).
func (c codecs) encodeAs(out output, obj runtime.Object, w http.ResponseWriter, code int, contentType string) error {
	w.Header().Set("Content-Type", contentType)
	return c.encode(out, false, obj, w, code)
}

// writeJSON writes v as plain JSON (for documents outside the scheme).
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// statusFor converts any error into the metav1.Status a client gets.
func statusFor(err error) *metav1.Status {
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		s := apiStatus.Status()
		if s.Status == "" {
			s.Status = metav1.StatusFailure
		}
		return &s
	}
	s := apierrors.NewInternalError(err).ErrStatus
	return &s
}

func errUnsupportedMediaType(contentType string, supported []string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnsupportedMediaType,
		Reason:  metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format (%q) - accepted media types include: %s", contentType, strings.Join(supported, ", ")),
	}}
}
