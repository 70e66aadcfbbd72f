package ingest

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/schema"
)

// Metrics are the Prometheus collectors of a Server. Their label values
// come from closed sets: request results (the Result constants), event
// outcomes (accepted, rejected, duplicate) and reason codes
// (schema.Reasons). No label ever holds a schema name, a field or a value.
type Metrics struct {
	// Requests counts requests by result.
	Requests *prometheus.CounterVec
	// Events counts the events of applied requests by outcome and reason
	// ("" for accepted and duplicate).
	Events *prometheus.CounterVec
	// Duration observes request handling time, commit included, in seconds.
	Duration prometheus.Histogram

	reasons map[string]bool
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "veil", Subsystem: "ingest", Name: "requests_total",
			Help: "Ingest requests by result.",
		}, []string{"result"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "veil", Subsystem: "ingest", Name: "events_total",
			Help: "Events of applied ingest requests by outcome and reason code.",
		}, []string{"outcome", "reason"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "veil", Subsystem: "ingest", Name: "request_duration_seconds",
			Help:    "Ingest request handling time including the commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		reasons: make(map[string]bool),
	}
	for _, r := range schema.Reasons() {
		m.reasons[r] = true
	}
	for _, c := range []prometheus.Collector{m.Requests, m.Events, m.Duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// reasonLabel keeps the reason label in its closed set.
func (m *Metrics) reasonLabel(r string) string {
	if m.reasons[r] {
		return r
	}
	return "other"
}

func (m *Metrics) observe(rr requestResult, d time.Duration) {
	if m == nil {
		return
	}
	m.Requests.WithLabelValues(rr.result).Inc()
	m.Duration.Observe(d.Seconds())
	if rr.result != ResultCommitted && rr.result != ResultDuplicate {
		return
	}
	if n := rr.counts.accepted; n > 0 {
		m.Events.WithLabelValues(StatusAccepted, "").Add(float64(n))
	}
	if n := rr.counts.duplicate; n > 0 {
		m.Events.WithLabelValues(StatusDuplicate, "").Add(float64(n))
	}
	reasons := make([]string, 0, len(rr.reasons))
	for r := range rr.reasons {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		m.Events.WithLabelValues(StatusRejected, m.reasonLabel(r)).Add(float64(rr.reasons[r]))
	}
}
