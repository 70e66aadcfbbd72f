package release

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInPlan reports a grouping the schema's plan does not release.
var ErrNotInPlan = errors.New("release: grouping not in the plan")

// Query asks for released aggregates of one grouping.
type Query struct {
	GroupBy  []string
	From, To time.Time // bucket starts in [From, To)
	// Bucket is "hour" or "day": the buckets of the answer, each the sum
	// of the released buckets it covers.
	Bucket string
}

// Answer is a query's answer: post-processing of persisted releases only.
type Answer struct {
	Mode    string
	Epsilon string // per bucket
	Delta   float64
	Plan    string
	Groups  []Group
}

// Group is one cell of the answer.
type Group struct {
	Bucket time.Time
	// Values holds the grouping's dimension values (string, bool or
	// int64); an absent value is left out.
	Values map[string]any
	// Provisional reports that some of the releases summed here are
	// provisional (the bucket was still open or settling).
	Provisional bool
	// Count is the noisy count, shown as zero when negative.
	Count int64
	// NoiseSD is the standard deviation of the noise in Count.
	NoiseSD  float64
	Measures map[string]MeasureAnswer
}

// MeasureAnswer is one measure of a group.
type MeasureAnswer struct {
	Count int64
	Sum   float64
	// Mean is Sum/Count, within the clamp range; absent when Count is 0.
	Mean          *float64
	P50, P90, P99 *float64
	// SumNoiseSD is the standard deviation of the noise in Sum.
	SumNoiseSD float64
}

// Answer answers q for a registered schema version in dp mode, drawing any
// release that is due first.
func (r *Releaser) Answer(ctx context.Context, reg Registered, q Query) (*Answer, error) {
	p := reg.Plan
	g, ok := p.Find(q.GroupBy)
	if !ok {
		return nil, fmt.Errorf("%w: %s version %d releases the groupings %s", ErrNotInPlan, p.Schema, p.Version, p.Describe())
	}
	now := r.cfg.Now()
	chosen := map[time.Time]meta{}
	for _, b := range p.buckets(reg.Since, q.From, q.To, now) {
		m, err := r.ensure(ctx, p, b, now)
		if err != nil {
			return nil, err
		}
		if m != nil {
			chosen[b] = *m
		}
	}
	out := &Answer{Mode: p.Mode, Epsilon: p.Epsilon.RatString(), Delta: p.Delta, Plan: p.Describe()}
	if p.Epsilon.IsInt() {
		out.Epsilon = p.Epsilon.Num().String()
	} else if f, exact := p.Epsilon.FloatPrec(); exact {
		out.Epsilon = p.Epsilon.FloatString(f)
	}
	if len(chosen) == 0 {
		return out, nil
	}
	buckets := make([]time.Time, 0, len(chosen))
	seqs := make([]int16, 0, len(chosen))
	for b, m := range chosen {
		buckets = append(buckets, b)
		seqs = append(seqs, int16(m.seq))
	}
	rows, err := r.cfg.DB.Pool().Query(ctx, `SELECT c.bucket, c.cell, c.count, c.sums, c.hists
		FROM release_cells c JOIN unnest($3::timestamptz[], $4::smallint[]) AS k(bucket, seq)
			ON c.bucket = k.bucket AND c.seq = k.seq
		WHERE c.schema_name = $1 AND c.schema_version = $2 AND c.grouping = $5`,
		p.Schema, int32(p.Version), buckets, seqs, g.Name())
	if err != nil {
		return nil, fmt.Errorf("release: reading cells: %w", err)
	}
	type acc struct {
		bucket      time.Time
		key         Key
		provisional bool
		count       int64
		countVar    float64
		sums        []int64
		sumVars     []float64
		hists       [][]int64
		edges       [][]float64
		lo, hi      []float64
		histBins    []int
	}
	accs := map[string]*acc{}
	var (
		b     time.Time
		cell  string
		count int64
		sums  []int64
		hists []int64
	)
	_, err = pgx.ForEachRow(rows, []any{&b, &cell, &count, &sums, &hists}, func() error {
		b = b.UTC()
		m := chosen[b]
		ab := b
		if q.Bucket == "day" {
			ab = b.Truncate(24 * time.Hour)
		}
		id := ab.String() + "\x00" + cell
		a := accs[id]
		if a == nil {
			a = &acc{bucket: ab, key: Key(cell)}
			for _, mp := range m.params.Measures {
				a.sums = append(a.sums, 0)
				a.sumVars = append(a.sumVars, 0)
				a.hists = append(a.hists, make([]int64, mp.HistBins))
				a.edges = append(a.edges, mp.Edges)
				a.histBins = append(a.histBins, mp.HistBins)
				lo, _ := ratFloat(mp.Lo)
				hi, _ := ratFloat(mp.Hi)
				a.lo, a.hi = append(a.lo, lo), append(a.hi, hi)
			}
			accs[id] = a
		}
		if len(m.params.Measures) != len(a.sums) || len(sums) != len(a.sums) {
			return errors.New("release: releases of one bucket range disagree on the measures")
		}
		a.provisional = a.provisional || !m.final
		a.count += count
		cv := laplaceVariance(m.params.CountScale)
		a.countVar += cv
		off := 0
		for i, mp := range m.params.Measures {
			a.sums[i] += sums[i]
			a.sumVars[i] += laplaceVariance(mp.SumScale)
			if mp.HistBins != a.histBins[i] || off+mp.HistBins > len(hists) {
				return errors.New("release: releases of one bucket range disagree on the bins")
			}
			for j := range mp.HistBins {
				a.hists[i][j] += hists[off+j]
			}
			off += mp.HistBins
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("release: reading cells: %w", err)
	}
	for _, a := range accs {
		vals, err := a.key.Values()
		if err != nil || len(vals) != len(g.Dims) {
			return nil, fmt.Errorf("release: a stored cell key is malformed")
		}
		grp := Group{Bucket: a.bucket, Values: map[string]any{}, Provisional: a.provisional,
			Count: max(a.count, 0), NoiseSD: math.Sqrt(a.countVar), Measures: map[string]MeasureAnswer{}}
		for i, d := range g.Dims {
			if vals[i] != nil {
				grp.Values[d] = vals[i]
			}
		}
		for i, m := range p.Measures {
			ma := MeasureAnswer{Sum: float64(a.sums[i]), SumNoiseSD: math.Sqrt(a.sumVars[i])}
			var n int64
			for _, c := range a.hists[i] {
				n += c
			}
			if m.Required {
				// Every event carries it: the group's count is the
				// better estimate (one noise draw, not one per bin).
				n = a.count
			}
			ma.Count = max(n, 0)
			if ma.Count > 0 {
				mean := min(max(ma.Sum/float64(ma.Count), a.lo[i]), a.hi[i])
				ma.Mean = &mean
			}
			if a.histBins[i] > 1 {
				bins := Bins{Edges: a.edges[i]}
				for _, pq := range []struct {
					q   float64
					dst **float64
				}{{0.5, &ma.P50}, {0.9, &ma.P90}, {0.99, &ma.P99}} {
					if v, ok := bins.Percentile(a.hists[i], pq.q, 2*math.Sqrt(a.countVar)); ok {
						if m.Integer {
							v = math.Round(v)
						}
						*pq.dst = &v
					}
				}
			}
			grp.Measures[m.Name] = ma
		}
		out.Groups = append(out.Groups, grp)
	}
	slices.SortFunc(out.Groups, func(x, y Group) int {
		if c := x.Bucket.Compare(y.Bucket); c != 0 {
			return c
		}
		return strings.Compare(string(KeyOf(valuesOf(x, g))), string(KeyOf(valuesOf(y, g))))
	})
	return out, nil
}

func valuesOf(gr Group, g Grouping) []any {
	vs := make([]any, len(g.Dims))
	for i, d := range g.Dims {
		vs[i] = gr.Values[d]
	}
	return vs
}

func ratFloat(s string) (float64, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	f, _ := r.Float64()
	return f, true
}

// laplaceVariance is the variance of the discrete Laplace of scale b:
// 2p/(1-p)² with p = exp(-1/b). Reporting only.
func laplaceVariance(scale string) float64 {
	b, ok := ratFloat(scale)
	if !ok || b <= 0 {
		return 0
	}
	p := math.Exp(-1 / b)
	return 2 * p / ((1 - p) * (1 - p))
}
