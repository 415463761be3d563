package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Metrics are the per-controller Prometheus metrics: work queue depth,
// adds and retries, reconcile latency, reconcile errors. One Metrics is
// shared by all controllers of a Manager; each controller is a label value.
// Safe for concurrent use.
type Metrics struct {
	depth     *prometheus.GaugeVec
	adds      *prometheus.CounterVec
	retries   *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	reconcile *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "workqueue_depth", Help: "Current depth of the controller's work queue.",
		}, []string{"controller"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_adds_total", Help: "Requests added to the controller's work queue.",
		}, []string{"controller"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workqueue_retries_total", Help: "Rate-limited requeues of the controller's work queue.",
		}, []string{"controller"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "controller_reconcile_duration_seconds", Help: "Time per reconcile.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"controller"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_reconcile_errors_total", Help: "Reconciles that returned an error.",
		}, []string{"controller"}),
		reconcile: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_reconcile_total", Help: "Reconciles by result.",
		}, []string{"controller", "result"}),
	}
	for _, c := range []prometheus.Collector{m.depth, m.adds, m.retries, m.latency, m.errors, m.reconcile} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(name string, d time.Duration, err error) {
	m.latency.WithLabelValues(name).Observe(d.Seconds())
	result := "success"
	if err != nil {
		result = "error"
		m.errors.WithLabelValues(name).Inc()
	}
	m.reconcile.WithLabelValues(name, result).Inc()
}

func (m *Metrics) queueProvider() workqueue.MetricsProvider { return queueProvider{m} }

type queueProvider struct{ m *Metrics }

func (p queueProvider) NewDepthMetric(name string) workqueue.GaugeMetric {
	return p.m.depth.WithLabelValues(name)
}
func (p queueProvider) NewAddsMetric(name string) workqueue.CounterMetric {
	return p.m.adds.WithLabelValues(name)
}
func (p queueProvider) NewRetriesMetric(name string) workqueue.CounterMetric {
	return p.m.retries.WithLabelValues(name)
}
func (queueProvider) NewLatencyMetric(string) workqueue.HistogramMetric      { return noop{} }
func (queueProvider) NewWorkDurationMetric(string) workqueue.HistogramMetric { return noop{} }
func (queueProvider) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}
func (queueProvider) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}

type noop struct{}

func (noop) Inc()            {}
func (noop) Dec()            {}
func (noop) Set(float64)     {}
func (noop) Observe(float64) {}

type noopProvider struct{}

func (noopProvider) NewDepthMetric(string) workqueue.GaugeMetric            { return noop{} }
func (noopProvider) NewAddsMetric(string) workqueue.CounterMetric           { return noop{} }
func (noopProvider) NewRetriesMetric(string) workqueue.CounterMetric        { return noop{} }
func (noopProvider) NewLatencyMetric(string) workqueue.HistogramMetric      { return noop{} }
func (noopProvider) NewWorkDurationMetric(string) workqueue.HistogramMetric { return noop{} }
func (noopProvider) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}
func (noopProvider) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noop{}
}
