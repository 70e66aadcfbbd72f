package loghist

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// reference is the value of rank ⌈q·n⌉ (1-based, at least 1) of vals.
func reference(vals []float64, q float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	r := max(int(math.Ceil(q*float64(len(s)))), 1)
	return s[r-1]
}

func within(got, want float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= RelativeError*math.Abs(want)*(1+1e-12)
}

func TestIndexValueBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		e := rng.IntN(MaxExp-MinExp+1) + MinExp
		v := math.Ldexp(1+rng.Float64(), e)
		if rng.IntN(2) == 0 {
			v = -v
		}
		if got := Value(Index(v)); !within(got, v) {
			t.Fatalf("Value(Index(%g)) = %g, beyond %g relative error", v, got, RelativeError)
		}
	}
	for _, v := range []float64{1, 2, 1.5, 600000, 0.001, math.Ldexp(1, MinExp), math.Ldexp(1, MaxExp+1) * (1 - 1e-16)} {
		if got := Value(Index(v)); !within(got, v) {
			t.Errorf("Value(Index(%g)) = %g", v, got)
		}
	}
	if Index(0) != 0 || Index(math.Ldexp(1, MinExp-1)) != 0 {
		t.Error("values below the range are not counted as zero")
	}
	if Index(1e300) != MaxIndex || Index(-1e300) != -MaxIndex {
		t.Error("values above the range are not clamped to the top bucket")
	}
	// Index order is value order.
	prev := int32(-MaxIndex - 1)
	for _, v := range []float64{-1e30, -3, -1, -0.5, 0, 0.5, 1, 1.02, 3, 1e9} {
		i := Index(v)
		if i <= prev {
			t.Errorf("Index(%g) = %d, not above the previous %d", v, i, prev)
		}
		prev = i
	}
}

func TestQuantileAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dists := map[string]func() float64{
		"uniform ms":  func() float64 { return float64(rng.IntN(600001)) },
		"lognormal":   func() float64 { return math.Exp(rng.NormFloat64()*2 + 3) },
		"mixed signs": func() float64 { return rng.NormFloat64() * 100 },
		"few values":  func() float64 { return float64(rng.IntN(3)) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{1, 2, 7, 100, 5000} {
				vals := make([]float64, n)
				// Build the histogram in parts and merge them, as the
				// mixer does.
				parts := make([]Hist, 4)
				for i := range vals {
					vals[i] = gen()
					parts[i%4].Add(vals[i])
				}
				var h Hist
				for i := range parts {
					h.Merge(&parts[i])
				}
				if h.Count() != uint64(n) {
					t.Fatalf("count %d, want %d", h.Count(), n)
				}
				for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 1} {
					got, ok := h.Quantile(q)
					want := reference(vals, q)
					if !ok || !within(got, want) {
						t.Errorf("n=%d q=%g: got %g (%v), reference %g", n, q, got, ok, want)
					}
				}
			}
		})
	}
}

func TestQuantileEmptyAndBadQ(t *testing.T) {
	var h Hist
	if _, ok := h.Quantile(0.5); ok {
		t.Error("empty histogram gave a quantile")
	}
	h.Add(3)
	for _, q := range []float64{-0.1, 1.1, math.NaN()} {
		if _, ok := h.Quantile(q); ok {
			t.Errorf("q=%g accepted", q)
		}
	}
}

func TestEncodeRoundTripAndBound(t *testing.T) {
	var h Hist
	if got, err := Decode(h.Encode()); err != nil || got.Count() != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		h.Add(math.Ldexp(rng.Float64()*2-1, rng.IntN(200)-100))
	}
	h.AddN(0, 7)
	if h.Buckets() > maxBuckets {
		t.Fatalf("%d buckets, above the bound %d", h.Buckets(), maxBuckets)
	}
	enc := h.Encode()
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(&h) || !bytes.Equal(got.Encode(), enc) {
		t.Fatal("round trip changed the histogram")
	}
	// Every possible bucket filled: the encoding stays bounded.
	var full Hist
	for i := int32(-MaxIndex); i <= MaxIndex; i++ {
		full.AddN(Value(i), 1<<40)
	}
	if full.Buckets() != maxBuckets {
		t.Fatalf("full histogram has %d buckets, want %d", full.Buckets(), maxBuckets)
	}
	if n := len(full.Encode()); n > 1+3+maxBuckets*(2+6) {
		t.Errorf("full encoding %d bytes", n)
	}
	if _, err := Decode(full.Encode()); err != nil {
		t.Errorf("full: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":         {nil, ErrTruncated},
		"version":       {[]byte{2, 0}, ErrVersion},
		"no count":      {[]byte{1}, ErrTruncated},
		"too many":      {[]byte{1, 0xff, 0xff, 0x03}, ErrMalformed},
		"zero gap":      {[]byte{1, 1, 0, 1}, ErrMalformed},
		"zero count":    {[]byte{1, 1, 1, 0}, ErrMalformed},
		"truncated":     {[]byte{1, 2, 1, 1, 1}, ErrMalformed},
		"trailing":      {[]byte{1, 0, 0}, ErrMalformed},
		"non-minimal":   {[]byte{1, 1, 0x81, 0x00, 1}, ErrMalformed},
		"index too big": {[]byte{1, 1, 0xff, 0xff, 0x03, 1}, ErrMalformed},
	} {
		if _, err := Decode(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var h Hist
	f.Add(h.Encode())
	for _, v := range []float64{0, 1, -1, 420, 1e-12, 1e30} {
		h.Add(v)
		f.Add(h.Encode())
	}
	f.Add([]byte{1, 1, 0x81, 0x00, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Accepted input is canonical: it re-encodes to itself.
		if !bytes.Equal(h.Encode(), b) {
			t.Fatalf("accepted %x re-encodes to %x", b, h.Encode())
		}
	})
}

// TestBoundsCoverValues: every value falls in its bucket's bounds, the
// representative too, and Each walks buckets in increasing order with
// their counts.
func TestBoundsCoverValues(t *testing.T) {
	var h Hist
	vals := []float64{-5000.5, -3, -1e-12, 0, 1e-12, 0.75, 1, 1.5, 2, 99.9, 1e6}
	for _, v := range vals {
		h.Add(v)
		lo, hi := Bounds(Index(v))
		in := func(x float64) bool { return lo <= x && x < hi || v < 0 && lo < x && x <= hi }
		if !in(v) || !in(Value(Index(v))) {
			t.Errorf("%v: bucket [%v, %v) does not hold it or its representative", v, lo, hi)
		}
	}
	var prevHi = math.Inf(-1)
	var total uint64
	h.Each(func(lo, hi float64, n uint64) {
		if lo < prevHi || !(lo < hi) || n == 0 {
			t.Errorf("bucket [%v, %v) ×%d after %v", lo, hi, n, prevHi)
		}
		prevHi = hi
		total += n
	})
	if total != uint64(len(vals)) {
		t.Errorf("Each counted %d of %d", total, len(vals))
	}
}
