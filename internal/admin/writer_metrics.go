package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/storage"
)

// WriterMetrics exports the batch writer's and its mixer's counters
// (storage.WriterStats) for the admin listener's /metrics.
func WriterMetrics(w *storage.Writer) []prometheus.Collector {
	counter := func(name, help string, f func(storage.WriterStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(w.Stats())) })
	}
	gauge := func(name, help string, f func(storage.WriterStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(w.Stats()) })
	}
	return []prometheus.Collector{
		counter("veil_writer_transactions_total", "Acknowledge transactions committed (each holds a group of requests).",
			func(s storage.WriterStats) int64 { return s.Groups }),
		counter("veil_writer_duplicates_total", "Requests answered duplicate (a dedup claim already held).",
			func(s storage.WriterStats) int64 { return s.Duplicates }),
		counter("veil_mixer_checks_total", "Completed mixer checks (every --mix-interval on the replica holding the mixer lock).",
			func(s storage.WriterStats) int64 { return s.MixChecks }),
		counter("veil_mixer_mixes_total", "Mixes that folded staged requests into the rollups.",
			func(s storage.WriterStats) int64 { return s.Mixes }),
		counter("veil_mixer_requests_total", "Staged requests folded into the rollups.",
			func(s storage.WriterStats) int64 { return s.MixedRequests }),
		gauge("veil_mixer_pending_requests", "Staged requests with content waiting for a mix, as of the mixer's last check.",
			func(s storage.WriterStats) float64 { return float64(s.PendingRequests) }),
		gauge("veil_mixer_lag_seconds", "How long the oldest pending staged request had waited at the mixer's last check.",
			func(s storage.WriterStats) float64 { return s.MixLag.Seconds() }),
		gauge("veil_mixer_last_mix_requests", "Requests in the last mix.",
			func(s storage.WriterStats) float64 { return float64(s.LastMixRequests) }),
		gauge("veil_mixer_last_mix_cells", "Rollup cells (rows) written by the last mix.",
			func(s storage.WriterStats) float64 { return float64(s.LastMixCells) }),
	}
}
