package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets in the manner of HDR
// histograms: values below 2^histSubBits nanoseconds are exact, larger
// ones fall into one of 2^histSubBits buckets per power of two, so a
// reported quantile is at most 1/128 (0.8 %) above the true value. Its
// memory is fixed (about 60 KiB) whatever the number of samples. The zero
// value is ready to use; it is not safe for concurrent use (keep one per
// worker and Merge).
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
	sum    time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	// one linear range of histSub exact values, then histSub buckets for
	// each of the remaining 64-histSubBits powers of two.
	histBuckets = histSub + (64-histSubBits)*histSub
)

// bucketOf maps a non-negative value to its bucket index.
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return histSub + shift*histSub + int(v>>shift) - histSub
}

// bucketHigh is the largest value that maps to bucket i.
func bucketHigh(i int) uint64 {
	if i < histSub {
		return uint64(i)
	}
	shift := (i - histSub) / histSub
	mant := uint64((i-histSub)%histSub + histSub)
	hi := (mant+1)<<shift - 1
	if hi < mant<<shift { // overflow in the top bucket
		return math.MaxUint64
	}
	return hi
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the arithmetic mean of the samples.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank method:
// the upper edge of the bucket holding the ⌈q·n⌉-th smallest sample,
// never more than Max. It is 0 without samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			hi := bucketHigh(i)
			if hi > uint64(h.max) {
				return h.max
			}
			return time.Duration(hi)
		}
	}
	return h.max
}
