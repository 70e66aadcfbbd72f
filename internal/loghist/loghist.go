// Package loghist is a mergeable log-linear histogram of float64 values,
// the form in which veil keeps each measure of a rollup cell so that
// percentiles survive aggregation (DESIGN.md data flow step 8).
//
// # Bucket scheme
//
// A finite value v ≠ 0 is written |v| = 2^e · m with 1 ≤ m < 2. Its bucket
// is (sign, e, j) with j = ⌊(m − 1) · 64⌋, the top six bits of the
// mantissa: 64 linear sub-buckets per power of two. Bucket (e, j) covers
// [2^e·(1 + j/64), 2^e·(1 + (j+1)/64)), and its representative value is the
// midpoint, so any value in it is within (1/128) / (1 + j/64) ≤ 0.79 % of
// the representative: relative error ≤ 1 %.
//
// Exponents are clamped to [MinExp, MaxExp]: a magnitude below 2^MinExp
// (about 2.3e-10) counts as zero, one at or above 2^(MaxExp+1) (about
// 3.7e19) falls in the top bucket. Within that range the error bound holds;
// veil's measures are schema-bounded numbers well inside it. A histogram
// therefore has at most 2 · (MaxExp − MinExp + 1) · 64 + 1 = 12,289
// buckets whatever it counts: its size is bounded.
//
// Buckets are numbered by a signed index: 0 is zero; a positive value's
// bucket is 1 + (e − MinExp) · 64 + j; a negative value's is the negation
// of its magnitude's. Index order is value order.
package loghist

import (
	"errors"
	"math"
	"slices"
)

// The scheme's constants (see the package comment).
const (
	SubBuckets = 64
	MinExp     = -32
	MaxExp     = 63
	// MaxIndex is the largest bucket index; -MaxIndex the smallest.
	MaxIndex = (MaxExp - MinExp + 1) * SubBuckets
	// RelativeError bounds |representative − v| / |v| for v in range.
	RelativeError = 1.0 / (2 * SubBuckets)
)

// Hist counts values by bucket. The zero value is an empty histogram.
type Hist struct {
	counts map[int32]uint64
	total  uint64
}

// Index returns v's bucket index. v must be finite.
func Index(v float64) int32 {
	a := math.Abs(v)
	if a < math.Ldexp(1, MinExp) || math.IsNaN(v) {
		return 0
	}
	var idx int32
	if a >= math.Ldexp(1, MaxExp+1) || math.IsInf(v, 0) {
		idx = MaxIndex
	} else {
		frac, exp := math.Frexp(a) // a = frac · 2^exp, 0.5 ≤ frac < 1
		e := exp - 1               // a = (2·frac) · 2^e
		j := int32((2*frac - 1) * SubBuckets)
		idx = 1 + int32(e-MinExp)*SubBuckets + j
	}
	if v < 0 {
		return -idx
	}
	return idx
}

// Value returns the representative value of bucket idx (0 for 0).
func Value(idx int32) float64 {
	if idx == 0 {
		return 0
	}
	sign := 1.0
	if idx < 0 {
		sign, idx = -1, -idx
	}
	i := idx - 1
	e, j := int(i/SubBuckets)+MinExp, float64(i%SubBuckets)
	return sign * math.Ldexp(1+(j+0.5)/SubBuckets, e)
}

// Add counts v once.
func (h *Hist) Add(v float64) { h.AddN(v, 1) }

// AddN counts v n times.
func (h *Hist) AddN(v float64, n uint64) {
	if n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make(map[int32]uint64)
	}
	h.counts[Index(v)] += n
	h.total += n
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o *Hist) {
	if o == nil || o.total == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make(map[int32]uint64, len(o.counts))
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// Count returns how many values h counts.
func (h *Hist) Count() uint64 { return h.total }

// Buckets returns how many buckets are non-empty.
func (h *Hist) Buckets() int { return len(h.counts) }

// Quantile returns the representative of the bucket holding the value of
// rank ⌈q·n⌉ (1-based; rank 1 for q = 0) among the n counted values,
// sorted: within RelativeError of that value. ok is false when h is empty
// or q is outside [0, 1].
func (h *Hist) Quantile(q float64) (v float64, ok bool) {
	if h.total == 0 || !(q >= 0 && q <= 1) {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	idx := h.sortedIndexes()
	var seen uint64
	for _, i := range idx {
		seen += h.counts[i]
		if seen >= rank {
			return Value(i), true
		}
	}
	return Value(idx[len(idx)-1]), true
}

func (h *Hist) sortedIndexes() []int32 {
	idx := make([]int32, 0, len(h.counts))
	for i := range h.counts {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// Equal reports whether h and o count the same values per bucket.
func (h *Hist) Equal(o *Hist) bool {
	if h.total != o.total || len(h.counts) != len(o.counts) {
		return false
	}
	for i, c := range h.counts {
		if o.counts[i] != c {
			return false
		}
	}
	return true
}

// Encoding errors (see Decode).
var (
	ErrTruncated = errors.New("loghist: truncated encoding")
	ErrVersion   = errors.New("loghist: unknown encoding version")
	ErrMalformed = errors.New("loghist: malformed encoding")
)

// Bounds returns the interval that bucket idx covers: [lo, hi) for a
// positive idx, (lo, hi] for a negative one (the mirror image), and for 0
// the magnitudes counted as zero.
func Bounds(idx int32) (lo, hi float64) {
	if idx == 0 {
		z := math.Ldexp(1, MinExp)
		return -z, z
	}
	if idx < 0 {
		lo, hi = Bounds(-idx)
		return -hi, -lo
	}
	i := idx - 1
	e, j := int(i/SubBuckets)+MinExp, float64(i%SubBuckets)
	return math.Ldexp(1+j/SubBuckets, e), math.Ldexp(1+(j+1)/SubBuckets, e)
}

// Each calls f for every non-empty bucket in increasing value order, with
// the bucket's bounds (Bounds) and count.
func (h *Hist) Each(f func(lo, hi float64, n uint64)) {
	for _, idx := range h.sortedIndexes() {
		lo, hi := Bounds(idx)
		f(lo, hi, h.counts[idx])
	}
}
