package release

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/veil-telemetry/veil/internal/dp"
	"github.com/veil-telemetry/veil/internal/schema"
)

// Limits and parameters of releases.
const (
	// MaxBins is the most public histogram bins of a measure.
	MaxBins = 32
	// MaxProvisional is the most provisional releases of one bucket.
	MaxProvisional = 3
	// MaxPublicCells bounds the cells of a public-domain grouping (the
	// product of its dimensions' domains); a larger grouping goes through
	// partition selection instead.
	MaxPublicCells = 4096
	// DeltaPerBucket is the δ of a bucket's releases when its plan has a
	// grouping without a public domain, split evenly over the releases
	// and such groupings.
	DeltaPerBucket = 1e-6
)

// ErrPlan reports a schema whose plan cannot be released (a noise scale
// too large to be useful, an unsupported measure).
var ErrPlan = errors.New("release: plan refused")

// Measure is how one measure is released.
type Measure struct {
	Name     string
	Integer  bool
	Required bool
	// Lo and Hi are the clamp range: what one event adds to a released
	// sum lies in [Lo, Hi].
	Lo, Hi *big.Rat
	// Sensitivity is the most one event changes the released integer
	// sum: ⌈max(|Lo|, |Hi|)⌉, plus one for a fractional measure, whose
	// clamped total is rounded.
	Sensitivity *big.Int
	// RawSumIsClamped reports that the validation bounds lie inside the
	// clamp range, so the unclamped sum of a cell is its clamped sum.
	RawSumIsClamped bool
	// ClampWidened reports an x-veil-clamp narrower than the validation
	// bounds that the source cannot apply (it keeps no histograms): the
	// validation bounds are used instead.
	ClampWidened bool
	// Bins are the public bins, MaxBins at most, over [Lo, Hi].
	Bins Bins
}

// Grouping is one grouping of the plan.
type Grouping struct {
	Dims []string
	// Public reports a grouping whose cells are known without data;
	// Domain then lists every cell's key.
	Public bool
	Domain []Key
}

// Name is the grouping's dimensions joined by commas ("" for the total).
func (g Grouping) Name() string { return groupingName(g.Dims) }

// Plan is what a schema version releases, derived from its document.
type Plan struct {
	Schema      string
	Version     int
	Mode        string
	Epsilon     *big.Rat // per bucket
	Granularity string
	Retention   int // days
	Groupings   []Grouping
	Measures    []Measure
	// Delta is the δ of a bucket, 0 when every grouping is public.
	Delta float64

	histograms bool // the source keeps histograms
}

// NewPlan derives the release plan of a compiled schema. histograms
// reports whether the source keeps per-cell histograms: without them a
// clamp range narrower than the validation bounds cannot be applied to a
// stored sum, so the validation bounds stand in for it (Measure.ClampWidened).
func NewPlan(s *schema.Schema, histograms bool) (*Plan, error) {
	r := s.Release()
	eps, err := dp.ParseRat(r.Epsilon)
	if err != nil || eps.Sign() <= 0 {
		return nil, fmt.Errorf("%w: epsilon %q", ErrPlan, r.Epsilon)
	}
	p := &Plan{
		Schema: s.Name, Version: s.Version, Mode: r.Mode, Epsilon: eps,
		Granularity: s.Granularity, Retention: s.RetentionDays, histograms: histograms,
	}
	for _, name := range s.Measures {
		prop, _ := s.Property(name)
		m, err := newMeasure(prop, histograms)
		if err != nil {
			return nil, err
		}
		p.Measures = append(p.Measures, m)
	}
	private := 0
	for _, dims := range r.Plan {
		g := Grouping{Dims: dims, Public: true}
		domains := make([][]any, len(dims))
		cells := 1
		for i, d := range dims {
			prop, _ := s.Property(d)
			if !prop.PublicDomain() {
				g.Public = false
				break
			}
			domains[i] = domainOf(prop)
			cells *= len(domains[i])
			if cells > MaxPublicCells {
				g.Public = false
				break
			}
		}
		if g.Public {
			g.Domain = product(domains)
		} else {
			private++
		}
		p.Groupings = append(p.Groupings, g)
	}
	if private > 0 {
		p.Delta = DeltaPerBucket
	}
	return p, nil
}

func newMeasure(prop schema.Property, histograms bool) (Measure, error) {
	m := Measure{Name: prop.Name, Integer: prop.Type == "integer", Required: prop.Required}
	var ok1, ok2 bool
	m.Lo, ok1 = new(big.Rat).SetString(prop.Clamp[0])
	m.Hi, ok2 = new(big.Rat).SetString(prop.Clamp[1])
	vlo, ok3 := new(big.Rat).SetString(prop.Min)
	vhi, ok4 := new(big.Rat).SetString(prop.Max)
	if !ok1 || !ok2 || !ok3 || !ok4 || m.Lo.Cmp(m.Hi) >= 0 {
		return m, fmt.Errorf("%w: measure %s has no usable clamp range", ErrPlan, prop.Name)
	}
	m.RawSumIsClamped = m.Lo.Cmp(vlo) <= 0 && vhi.Cmp(m.Hi) <= 0
	if !m.RawSumIsClamped && !histograms {
		m.Lo, m.Hi, m.RawSumIsClamped, m.ClampWidened = vlo, vhi, true, true
	}
	bound := new(big.Rat).Abs(m.Lo)
	if a := new(big.Rat).Abs(m.Hi); a.Cmp(bound) > 0 {
		bound = a
	}
	m.Sensitivity = ceil(bound)
	if !m.Integer {
		m.Sensitivity.Add(m.Sensitivity, big.NewInt(1))
	}
	if m.Sensitivity.Sign() == 0 {
		m.Sensitivity.SetInt64(1)
	}
	lo, _ := m.Lo.Float64()
	hi, _ := m.Hi.Float64()
	m.Bins = NewBins(lo, hi, m.Integer)
	return m, nil
}

func ceil(r *big.Rat) *big.Int {
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// domainOf lists a public dimension's values, and nil (absent) when the
// dimension is optional.
func domainOf(p schema.Property) []any {
	var out []any
	if p.Enum != nil {
		for _, v := range p.Enum {
			out = append(out, normalize(v))
		}
	} else {
		out = []any{false, true}
	}
	if !p.Required {
		out = append(out, nil)
	}
	return out
}

func product(domains [][]any) []Key {
	keys := []Key{""}
	vals := [][]any{{}}
	for _, d := range domains {
		var nk []Key
		var nv [][]any
		for i := range keys {
			for _, v := range d {
				nk = append(nk, keys[i])
				nv = append(nv, append(slices.Clip(vals[i]), v))
			}
		}
		keys, vals = nk, nv
	}
	out := make([]Key, len(vals))
	for i, v := range vals {
		out[i] = KeyOf(v)
	}
	return out
}

// Shares returns the ε of one component (a count, a sum or a histogram)
// of a release drawn with eps: eps split evenly over the groupings and,
// in each, the count and each measure's sum and histogram.
func (p *Plan) Shares(eps *big.Rat) *big.Rat {
	n := int64(len(p.Groupings) * (1 + 2*len(p.Measures)))
	return new(big.Rat).Quo(eps, big.NewRat(n, 1))
}

// ProvisionalEpsilon is the ε of one provisional release: a sixth of the
// bucket's, so three leave half for the final release.
func (p *Plan) ProvisionalEpsilon() *big.Rat {
	return new(big.Rat).Quo(p.Epsilon, big.NewRat(2*MaxProvisional, 1))
}

// Scales are the noise scales of one release.
type Scales struct {
	Epsilon *big.Rat   // of the release
	Count   *big.Rat   // counts and histogram bins (sensitivity 1)
	Sums    []*big.Rat // per measure, in Plan.Measures order
	// Threshold is the noisy count a cell of a non-public grouping needs
	// to be released.
	Threshold int64
}

// ScalesFor returns the noise scales of a release drawn with eps, which
// is one of releases (up to MaxProvisional+1) of its bucket.
func (p *Plan) ScalesFor(eps *big.Rat) Scales {
	share := p.Shares(eps)
	s := Scales{Epsilon: new(big.Rat).Set(eps), Count: new(big.Rat).Inv(share)}
	for _, m := range p.Measures {
		s.Sums = append(s.Sums, new(big.Rat).Quo(new(big.Rat).SetInt(m.Sensitivity), share))
	}
	if p.Delta > 0 {
		private := 0
		for _, g := range p.Groupings {
			if !g.Public {
				private++
			}
		}
		s.Threshold = threshold(s.Count, p.Delta/float64((MaxProvisional+1)*private))
	}
	return s
}

// threshold is the Laplace partition-selection threshold τ for count
// scale b and δ: a cell that only one event created has count 1, and its
// noisy count reaches τ with probability P[X ≥ τ-1] = p^(τ-1)/(1+p) < δ
// for p = exp(-1/b) when τ-1 ≥ b·ln(1/δ). A public parameter, computed
// in floating point with one unit of margin; no noise is drawn here.
func threshold(b *big.Rat, delta float64) int64 {
	bf, _ := b.Float64()
	return 2 + int64(math.Ceil(bf*math.Log(1/delta)))
}

// Find returns the grouping of the plan over exactly dims (any order).
func (p *Plan) Find(dims []string) (Grouping, bool) {
	want := slices.Sorted(slices.Values(dims))
	for _, g := range p.Groupings {
		if slices.Equal(g.Dims, want) {
			return g, true
		}
	}
	return Grouping{}, false
}

// Describe lists the plan's groupings for messages: [] [os] [app_version].
func (p *Plan) Describe() string {
	var parts []string
	for _, g := range p.Groupings {
		parts = append(parts, "["+g.Name()+"]")
	}
	return strings.Join(parts, " ")
}

func bigInt(n int64) *big.Int { return big.NewInt(n) }

// sig formats v with three significant digits.
func sig(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }
