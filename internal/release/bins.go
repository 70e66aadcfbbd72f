package release

import (
	"math"
	"slices"
)

// Bins are a measure's public histogram bins: bin i is [Edges[i],
// Edges[i+1]), the last one closed. They depend only on the clamp range,
// never on data, and are log-spaced in x - lo + 1 so that each bin is a
// fixed ratio wide, as latencies and sizes need.
type Bins struct {
	Edges []float64
}

// NewBins returns at most MaxBins bins over [lo, hi]; an integer
// measure's edges are integers (so a narrow range has fewer bins).
func NewBins(lo, hi float64, integer bool) Bins {
	span := hi - lo + 1
	edges := make([]float64, 0, MaxBins+1)
	for i := 0; i <= MaxBins; i++ {
		e := lo - 1 + math.Pow(span, float64(i)/MaxBins)
		switch {
		case i == 0:
			e = lo
		case i == MaxBins:
			e = hi
		case integer:
			e = math.Ceil(e)
		}
		if n := len(edges); n > 0 && e <= edges[n-1] {
			continue
		}
		edges = append(edges, e)
	}
	if len(edges) == 1 { // lo == hi cannot happen (lint), but stay total
		edges = append(edges, hi+1)
	}
	return Bins{Edges: edges}
}

// Len is the number of bins.
func (b Bins) Len() int { return len(b.Edges) - 1 }

// Index returns the bin of v, values outside the range clamped to the
// first or last bin.
func (b Bins) Index(v float64) int {
	n := b.Len()
	if v <= b.Edges[0] || math.IsNaN(v) {
		return 0
	}
	if v >= b.Edges[n] {
		return n - 1
	}
	// The first edge above v, minus one.
	i, _ := slices.BinarySearch(b.Edges, v)
	if i < len(b.Edges) && b.Edges[i] == v {
		return min(i, n-1)
	}
	return i - 1
}

// Histogram is a cell's histogram of one measure as the source keeps it:
// Counts[i] events in [Bounds[i], Bounds[i+1]).
type Histogram struct {
	Bounds []float64
	Counts []int64
}

// valid reports a well-formed histogram: increasing bounds, one more
// than counts, no negative count.
func (h *Histogram) valid() bool {
	if h == nil || len(h.Bounds) != len(h.Counts)+1 || len(h.Counts) == 0 {
		return false
	}
	for i := 1; i < len(h.Bounds); i++ {
		if !(h.Bounds[i] > h.Bounds[i-1]) {
			return false
		}
	}
	for _, c := range h.Counts {
		if c < 0 {
			return false
		}
	}
	return true
}

// represent is the value that stands for every event of source bin
// [a, b): its midpoint, rounded half down for an integer measure (so a
// unit bin [a, a+1) stands for a).
func represent(a, b float64, integer bool) float64 {
	m := a + (b-a)/2
	if integer {
		return math.Ceil(m - 0.5)
	}
	return m
}

// Rebin maps a source histogram onto the public bins. Each source bin
// goes whole to the public bin of its representative value, so one event
// still moves exactly one public count by one (sensitivity 1).
func (b Bins) Rebin(h *Histogram, integer bool) []int64 {
	out := make([]int64, b.Len())
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		out[b.Index(represent(h.Bounds[i], h.Bounds[i+1], integer))] += c
	}
	return out
}

// ClampedSum is the sum of every event's representative value, clamped to
// [lo, hi]: each event adds a value within the clamp range.
func ClampedSum(h *Histogram, lo, hi float64, integer bool) float64 {
	var s float64
	for i, c := range h.Counts {
		v := min(max(represent(h.Bounds[i], h.Bounds[i+1], integer), lo), hi)
		s += float64(c) * v
	}
	return s
}

// Percentile estimates the q-quantile (0 < q < 1) from noisy bin counts:
// counts below floor count as zero (empty bins' positive noise would
// otherwise pile up as a phantom tail: pass about twice the noise's
// standard deviation), and the value is interpolated geometrically inside
// its bin, in the same x - lo + 1 space the bins are spaced in. It
// reports false when no count is left. Pure post-processing of released
// values.
func (b Bins) Percentile(counts []int64, q, floor float64) (float64, bool) {
	if len(counts) != b.Len() || b.Len() < 2 {
		return 0, false
	}
	kept := make([]int64, len(counts))
	var total float64
	for i, c := range counts {
		if float64(c) >= floor && c > 0 {
			kept[i] = c
			total += float64(c)
		}
	}
	counts = kept
	if total <= 0 {
		return 0, false
	}
	lo := b.Edges[0]
	target := q * total
	var cum float64
	for i, c := range counts {
		c := float64(max(c, 0))
		if c == 0 || cum+c < target {
			cum += c
			continue
		}
		frac := (target - cum) / c
		s0, s1 := b.Edges[i]-lo+1, b.Edges[i+1]-lo+1
		return lo - 1 + s0*math.Pow(s1/s0, frac), true
	}
	return b.Edges[len(b.Edges)-1], true
}
