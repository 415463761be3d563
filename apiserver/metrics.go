package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics, named as Kubernetes names
// them so that existing dashboards apply.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	watchers *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "API requests by verb, group, resource, subresource and HTTP code.",
		}, []string{"verb", "group", "resource", "subresource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "API request latency by verb, group, resource and subresource (watches excluded).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"verb", "group", "resource", "subresource"}),
		watchers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_registered_watchers",
			Help: "Open watches by group and resource.",
		}, []string{"group", "resource"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.watchers} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// requestRecord measures one request.
type requestRecord struct {
	m        *metrics
	info     requestInfo
	resource string
	start    time.Time
	w        *statusRecorder
}

func (m *metrics) begin(info requestInfo) *requestRecord {
	return &requestRecord{m: m, info: info, resource: info.Resource, start: time.Now()}
}

func (rec *requestRecord) wrap(w http.ResponseWriter) http.ResponseWriter {
	rec.w = &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	return rec.w
}

func (rec *requestRecord) end() {
	g, sub := rec.info.GroupVersion.Group, rec.info.Subresource
	rec.m.requests.WithLabelValues(rec.info.Verb, g, rec.resource, sub, strconv.Itoa(rec.w.code)).Inc()
	if rec.info.Verb != "watch" {
		rec.m.latency.WithLabelValues(rec.info.Verb, g, rec.resource, sub).Observe(time.Since(rec.start).Seconds())
	}
}

// statusRecorder remembers the status code of a response.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush of the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
