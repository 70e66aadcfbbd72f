package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/storage"
)

// WriterMetrics exports the batch writer's counters (storage.WriterStats)
// for the admin listener's /metrics.
func WriterMetrics(w *storage.Writer) []prometheus.Collector {
	counter := func(name, help string, f func(storage.WriterStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(w.Stats())) })
	}
	return []prometheus.Collector{
		counter("veil_writer_transactions_total", "Writer transactions committed (each holds a group of requests).",
			func(s storage.WriterStats) int64 { return s.Groups }),
		counter("veil_writer_claim_transactions_total", "Committed writer transactions that checked dedup keys in claim mode, after a stored key was found.",
			func(s storage.WriterStats) int64 { return s.ClaimGroups }),
		counter("veil_writer_key_conflicts_total", "Writer transactions rolled back because a dedup key was already stored (duplicates found in insert mode); their groups ran again.",
			func(s storage.WriterStats) int64 { return s.KeyConflicts }),
	}
}
