package release

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
)

// Noise draws one discrete Laplace variate of the given scale
// ((*dp.Pool).Laplace in production).
type Noise func(ctx context.Context, scale *big.Rat) (*big.Int, error)

// Released is one released cell: noisy values only.
type Released struct {
	Grouping string // Grouping.Name()
	Key      Key
	Count    int64
	// Sums and Hists are per measure, in Plan.Measures order. A
	// histogram has the measure's public bins, or one bin (the count of
	// events carrying the measure) when the source keeps none.
	Sums  []int64
	Hists [][]int64
}

// Draw computes the release of one bucket with budget eps from its exact
// cells (per grouping name; absent groupings have no data). Every value
// it returns carries noise: public groupings release every domain cell,
// others only cells whose noisy count reaches the threshold.
func (p *Plan) Draw(ctx context.Context, noise Noise, eps *big.Rat, cells map[string][]Cell, histograms bool) ([]Released, Scales, error) {
	sc := p.ScalesFor(eps)
	var out []Released
	for _, g := range p.Groupings {
		byKey := map[Key]Cell{}
		for _, c := range cells[g.Name()] {
			if len(c.Values) != len(g.Dims) {
				return nil, sc, fmt.Errorf("release: a cell of grouping [%s] has %d values", g.Name(), len(c.Values))
			}
			k := KeyOf(c.Values)
			if prev, dup := byKey[k]; dup {
				c = merge(prev, c)
			}
			byKey[k] = c
		}
		keys := g.Domain
		if !g.Public {
			keys = make([]Key, 0, len(byKey))
			for k := range byKey {
				keys = append(keys, k)
			}
			slices.Sort(keys)
		}
		for _, k := range keys {
			c := byKey[k] // zero for a public cell without data
			r := Released{Grouping: g.Name(), Key: k}
			var err error
			if r.Count, err = noisy(ctx, noise, c.Count, sc.Count); err != nil {
				return nil, sc, err
			}
			if !g.Public && r.Count < sc.Threshold {
				continue
			}
			for i, m := range p.Measures {
				mc := c.Measures[m.Name]
				s, err := noisy(ctx, noise, clampedSum(m, mc), sc.Sums[i])
				if err != nil {
					return nil, sc, err
				}
				r.Sums = append(r.Sums, s)
				var exact []int64
				switch {
				case histograms && mc.Hist != nil:
					exact = m.Bins.Rebin(mc.Hist, m.Integer)
				case histograms:
					exact = make([]int64, m.Bins.Len())
				default:
					exact = []int64{mc.Count}
				}
				h := make([]int64, len(exact))
				for j, v := range exact {
					if h[j], err = noisy(ctx, noise, v, sc.Count); err != nil {
						return nil, sc, err
					}
				}
				r.Hists = append(r.Hists, h)
			}
			out = append(out, r)
		}
	}
	return out, sc, nil
}

// merge adds two source cells with the same key.
func merge(a, b Cell) Cell {
	out := Cell{Values: a.Values, Count: a.Count + b.Count, Measures: map[string]MeasureCell{}}
	for name, m := range a.Measures {
		out.Measures[name] = m
	}
	for name, m := range b.Measures {
		o := out.Measures[name]
		o.Count += m.Count
		o.Sum += m.Sum
		o.Hist = addHist(o.Hist, m.Hist)
		out.Measures[name] = o
	}
	return out
}

// addHist adds two histograms: a source may hand out one cell in parts
// (one per stored row); parts share the source's bin layout. Parts with
// different layouts are concatenated bin by bin in bound order instead.
func addHist(a, b *Histogram) *Histogram {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case slices.Equal(a.Bounds, b.Bounds):
		out := &Histogram{Bounds: a.Bounds, Counts: slices.Clone(a.Counts)}
		for i, c := range b.Counts {
			out.Counts[i] += c
		}
		return out
	}
	// Different layouts: keep each bin with its own bounds by splitting
	// into unit-count-free pieces is not possible; merge on the union of
	// bounds, giving each source bin to the union bin at its lower bound.
	bounds := slices.Sorted(slices.Values(append(slices.Clone(a.Bounds), b.Bounds...)))
	bounds = slices.Compact(bounds)
	out := &Histogram{Bounds: bounds, Counts: make([]int64, len(bounds)-1)}
	for _, h := range []*Histogram{a, b} {
		for i, c := range h.Counts {
			j, _ := slices.BinarySearch(bounds, h.Bounds[i])
			out.Counts[min(j, len(out.Counts)-1)] += c
		}
	}
	return out
}

// clampedSum is the integer the sum component releases: the cell's sum of
// clamped values (Measure.RawSumIsClamped: the stored sum; otherwise from
// the histogram), rounded.
func clampedSum(m Measure, mc MeasureCell) int64 {
	s := mc.Sum
	if !m.RawSumIsClamped {
		s = 0
		if mc.Hist.valid() {
			lo, _ := m.Lo.Float64()
			hi, _ := m.Hi.Float64()
			s = ClampedSum(mc.Hist, lo, hi, m.Integer)
		}
	}
	return saturate(math.Round(s))
}

func saturate(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	case math.IsNaN(f):
		return 0
	}
	return int64(f)
}

// noisy returns exact + noise of scale b, saturated to int64.
func noisy(ctx context.Context, noise Noise, exact int64, b *big.Rat) (int64, error) {
	n, err := noise(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("release: drawing noise: %w", err)
	}
	v := n.Add(n, big.NewInt(exact))
	switch {
	case v.IsInt64():
		return v.Int64(), nil
	case v.Sign() > 0:
		return math.MaxInt64, nil
	default:
		return math.MinInt64, nil
	}
}

// groupingName joins dims as Grouping.Name does.
func groupingName(dims []string) string { return strings.Join(dims, ",") }
