package release

import (
	"context"
	"time"
)

// Source is where releases read exact cells from: the rollups. It is
// declared here, where it is consumed; RollupSource implements it over
// the rollups table.
type Source interface {
	// Cells returns the cells of one bucket of a schema version grouped
	// by dims (in that order), with their measures. Cells without events
	// may be left out.
	Cells(ctx context.Context, schema string, version int, bucket time.Time, dims []string) ([]Cell, error)
	// Histograms reports whether Cells returns per-measure histograms.
	Histograms() bool
	// Settled reports whether everything acknowledged in the bucket
	// [start, end) has been folded into the rollups, so its final
	// release may be drawn.
	Settled(start, end, now time.Time) bool
	// MixEpoch numbers the latest mix at now: a provisional release of
	// the open bucket is drawn at most once per epoch. It must not
	// depend on data (whether anything arrived), only on time.
	MixEpoch(now time.Time) int64
}
