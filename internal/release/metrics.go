package release

import (
	"strconv"
	"time"

	"math/big"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the releaser's: ε left in the newest released bucket per
// schema version, and how long after its bucket ended a final release
// was drawn. Labels are registered schema names and versions (a closed
// set the operator controls), never data.
type metrics struct {
	budgetLeft *prometheus.GaugeVec
	lag        prometheus.Histogram
	releases   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		budgetLeft: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "veil_release_budget_left_epsilon",
			Help: "ε left in the most recently released bucket of each schema version.",
		}, []string{"schema", "version"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "veil_release_final_lag_seconds",
			Help:    "Time from a bucket's end to its final release.",
			Buckets: []float64{60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600},
		}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_releases_total",
			Help: "Releases drawn, by kind (provisional or final).",
		}, []string{"kind"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.budgetLeft, m.lag, m.releases} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) released(p *Plan, final bool, sinceEnd time.Duration, left *big.Rat) {
	kind := "provisional"
	if final {
		kind = "final"
		m.lag.Observe(sinceEnd.Seconds())
	}
	m.releases.WithLabelValues(kind).Inc()
	l, _ := left.Float64()
	m.budgetLeft.WithLabelValues(p.Schema, strconv.Itoa(p.Version)).Set(l)
}
