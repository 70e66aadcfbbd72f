package release

import (
	"math"
	"slices"
	"testing"
)

func TestNewBins(t *testing.T) {
	for _, tc := range []struct {
		lo, hi  float64
		integer bool
		maxLen  int
	}{
		{0, 600000, true, MaxBins},
		{0, 10, true, 11},
		{-50, 50, true, MaxBins},
		{0.5, 2.5, false, MaxBins},
		{10, 5000, true, MaxBins},
	} {
		b := NewBins(tc.lo, tc.hi, tc.integer)
		if b.Len() < 1 || b.Len() > tc.maxLen || b.Edges[0] != tc.lo || b.Edges[b.Len()] != tc.hi {
			t.Errorf("[%v, %v]: %v", tc.lo, tc.hi, b.Edges)
		}
		for i := 1; i < len(b.Edges); i++ {
			if b.Edges[i] <= b.Edges[i-1] || tc.integer && b.Edges[i] != math.Trunc(b.Edges[i]) {
				t.Errorf("[%v, %v]: edges %v", tc.lo, tc.hi, b.Edges)
			}
		}
		// Index clamps and agrees with the edges.
		if b.Index(tc.lo-100) != 0 || b.Index(tc.hi+100) != b.Len()-1 || b.Index(tc.hi) != b.Len()-1 {
			t.Errorf("[%v, %v]: clamping", tc.lo, tc.hi)
		}
		for i := 0; i < b.Len(); i++ {
			if got := b.Index(b.Edges[i]); got != i {
				t.Errorf("[%v, %v]: Index(edge %d = %v) = %d", tc.lo, tc.hi, i, b.Edges[i], got)
			}
		}
	}
	// Log spacing: the bins of [0, 600000] grow by a near-constant ratio.
	b := NewBins(0, 600000, true)
	r1 := (b.Edges[21] + 1) / (b.Edges[20] + 1)
	r2 := (b.Edges[31] + 1) / (b.Edges[30] + 1)
	if math.Abs(r1-r2) > 0.05 {
		t.Errorf("ratios %.3f %.3f", r1, r2)
	}
}

// syntheticHist is a source histogram of the given values on unit bins,
// with empty bins filling the gaps (as a sparse log-linear histogram
// would be handed over).
func syntheticHist(values []int64) *Histogram {
	v := slices.Sorted(slices.Values(values))
	h := &Histogram{}
	for i := 0; i < len(v); {
		x := v[i]
		n := int64(0)
		for i < len(v) && v[i] == x {
			n++
			i++
		}
		if k := len(h.Bounds); k > 0 && h.Bounds[k-1] < float64(x) {
			h.Counts = append(h.Counts, 0)
			h.Bounds = append(h.Bounds, float64(x))
		}
		if len(h.Bounds) == 0 {
			h.Bounds = append(h.Bounds, float64(x))
		}
		h.Counts = append(h.Counts, n)
		h.Bounds = append(h.Bounds, float64(x+1))
	}
	return h
}

func TestRebinAndPercentiles(t *testing.T) {
	// 10,000 values, log-normal around 420 (cold starts in ms).
	values := lognormal(10000, 420, 0.6, 1)
	h := syntheticHist(values)
	if !h.valid() {
		t.Fatal("synthetic histogram malformed")
	}
	b := NewBins(0, 600000, true)
	counts := b.Rebin(h, true)
	var total int64
	for _, c := range counts {
		total += c
	}
	if total != int64(len(values)) {
		t.Fatalf("rebinned total %d, want %d", total, len(values))
	}
	// Each source bin went whole to the public bin of its value.
	for _, v := range values[:50] {
		if counts[b.Index(float64(v))] == 0 {
			t.Fatalf("value %d's bin is empty", v)
		}
	}
	sorted := slices.Sorted(slices.Values(values))
	for _, q := range []float64{0.5, 0.9, 0.99} {
		got, ok := b.Percentile(counts, q, 0)
		want := float64(sorted[int(q*float64(len(sorted)))])
		// Without noise the error is the interpolation inside one bin,
		// which is about 33% wide at these values.
		if !ok || math.Abs(got-want)/want > 0.2 {
			t.Errorf("p%v = %.1f, want %.1f ± 20%%", q*100, got, want)
		}
	}
	if _, ok := b.Percentile(make([]int64, b.Len()), 0.5, 0); ok {
		t.Error("percentile of an empty histogram")
	}
	neg := make([]int64, b.Len())
	neg[3] = -40
	if _, ok := b.Percentile(neg, 0.5, 0); ok {
		t.Error("negative counts must count as zero")
	}
	// Counts under the floor are noise: a phantom tail does not move p99.
	tail := slices.Clone(counts)
	for i := b.Index(5000); i < b.Len(); i++ {
		if tail[i] == 0 {
			tail[i] = 20
		}
	}
	p99, _ := b.Percentile(counts, 0.99, 40)
	if unfloored, _ := b.Percentile(tail, 0.99, 0); unfloored <= p99 {
		t.Errorf("the tail should move an unfloored p99: %.1f vs %.1f", unfloored, p99)
	}
	if got, _ := b.Percentile(tail, 0.99, 40); got != p99 {
		t.Errorf("p99 with a sub-floor tail %.1f, want %.1f", got, p99)
	}
	// The clamped sum uses each event's representative value.
	if got := ClampedSum(syntheticHist([]int64{5, 5, 900}), 0, 100, true); got != 110 {
		t.Errorf("clamped sum %v, want 110", got)
	}
}

// lognormal returns n deterministic log-normal integers with the given
// median and σ, from a fixed seed.
func lognormal(n int, median, sigma float64, seed uint64) []int64 {
	r := newTestRand(seed)
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(math.Round(median * math.Exp(sigma*r.NormFloat64())))
	}
	return out
}
