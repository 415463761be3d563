package openapi_test

import (
	"testing"

	"github.com/gantryhq/gantry/apiserver/openapi"
)

// BenchmarkNew measures building the documents of the 24 resources of
// testResources, which a server does once at start-up.
func BenchmarkNew(b *testing.B) {
	resources := testResources()
	b.ReportAllocs()
	var docs *openapi.Documents
	for b.Loop() {
		var err error
		if docs, err = openapi.New(openapi.Config{Resources: resources, FieldValidation: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(docs.V2())), "v2-bytes")
	b.ReportMetric(float64(len(resources)), "resources")
}
