package release

import (
	"context"
	"math/big"
	"slices"
	"testing"

	"github.com/veil-telemetry/veil/internal/schema"
)

// readmeSchema is the README's example schema, with extra x-veil members
// spliced in.
func readmeSchema(t testing.TB, xveil string) *schema.Schema {
	t.Helper()
	s, err := schema.Compile([]byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "app.launch", "version": 1, "granularity": "hour", "retention_days": 30` + xveil + `},
  "type": "object",
  "additionalProperties": false,
  "required": ["os"],
  "properties": {
    "os":            {"enum": ["android", "ios"], "x-veil-role": "dimension"},
    "app_version":   {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$", "maxLength": 16, "x-veil-role": "dimension"},
    "cold_start_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure"}
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPlanOfREADMESchema(t *testing.T) {
	p, err := NewPlan(readmeSchema(t, ""), true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != "dp" || p.Epsilon.Cmp(big.NewRat(1, 1)) != 0 || p.Describe() != "[] [app_version] [os]" {
		t.Fatalf("%+v", p)
	}
	if !p.Groupings[0].Public || p.Groupings[1].Public || !p.Groupings[2].Public {
		t.Fatalf("public: %+v", p.Groupings)
	}
	if want := []Key{`[]`}; !slices.Equal(p.Groupings[0].Domain, want) {
		t.Errorf("total's domain %v", p.Groupings[0].Domain)
	}
	if want := []Key{`["android"]`, `["ios"]`}; !slices.Equal(p.Groupings[2].Domain, want) {
		t.Errorf("os's domain %v (os is required: no absent cell)", p.Groupings[2].Domain)
	}
	if p.Delta != DeltaPerBucket {
		t.Errorf("δ %v", p.Delta)
	}
	// 3 groupings × (count + sum + histogram) = 9 components.
	if got := p.Shares(big.NewRat(1, 2)); got.Cmp(big.NewRat(1, 18)) != 0 {
		t.Errorf("share %v", got)
	}
	if got := p.ProvisionalEpsilon(); got.Cmp(big.NewRat(1, 6)) != 0 {
		t.Errorf("provisional ε %v", got)
	}
	sc := p.ScalesFor(big.NewRat(1, 2))
	if sc.Count.Cmp(big.NewRat(18, 1)) != 0 || sc.Sums[0].Cmp(big.NewRat(18*600000, 1)) != 0 {
		t.Errorf("scales %v %v", sc.Count, sc.Sums[0])
	}
	// τ - 1 ≥ b·ln(1/δ) for δ = 1e-6/4: 18·ln(4e6) ≈ 273.
	if sc.Threshold < 275 || sc.Threshold > 277 {
		t.Errorf("threshold %d", sc.Threshold)
	}
	if g, ok := p.Find([]string{"os"}); !ok || g.Name() != "os" {
		t.Error("Find os")
	}
	if _, ok := p.Find([]string{"os", "app_version"}); ok {
		t.Error("Find outside the plan")
	}
}

func TestPlanClamp(t *testing.T) {
	s, err := schema.Compile([]byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "a", "version": 1, "release": {"epsilon": 0.5, "plan": [["os"]]}},
  "type": "object", "additionalProperties": false,
  "properties": {
    "os": {"enum": ["android", "ios"], "x-veil-role": "dimension"},
    "ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure", "x-veil-clamp": [0, 5000]},
    "ratio": {"type": "number", "minimum": -1, "maximum": 1, "x-veil-role": "measure"}
  }
}`))
	if err != nil {
		t.Fatal(err)
	}
	with, _ := NewPlan(s, true)
	without, _ := NewPlan(s, false)
	ms, ratio := with.Measures[0], with.Measures[1]
	if ms.Name != "ms" || ms.Sensitivity.Int64() != 5000 || ms.RawSumIsClamped || ms.ClampWidened {
		t.Errorf("with histograms: %+v", ms)
	}
	if m := without.Measures[0]; m.Sensitivity.Int64() != 600000 || !m.ClampWidened {
		t.Errorf("without histograms the clamp cannot apply: %+v", m)
	}
	// A fractional measure's rounded total moves by up to ⌈1⌉ + 1.
	if ratio.Sensitivity.Int64() != 2 || ratio.Integer {
		t.Errorf("ratio %+v", ratio)
	}
	// os is optional here: its domain has an absent cell.
	if want := []Key{`["android"]`, `["ios"]`, `[null]`}; !slices.Equal(with.Groupings[0].Domain, want) {
		t.Errorf("domain %v", with.Groupings[0].Domain)
	}
	if with.Delta != 0 {
		t.Errorf("all public, δ %v", with.Delta)
	}
}

// counter is a Noise whose n-th draw is n: distinct, never zero, so no
// released number can equal its exact value and no difference of two
// released numbers can equal the difference of their exact values.
func counter() Noise {
	n := int64(0)
	return func(context.Context, *big.Rat) (*big.Int, error) {
		n++
		return big.NewInt(n), nil
	}
}

func zero(context.Context, *big.Rat) (*big.Int, error) { return new(big.Int), nil }

func TestDraw(t *testing.T) {
	p, _ := NewPlan(readmeSchema(t, ""), true)
	cells := map[string][]Cell{
		"": {{Values: []any{}, Count: 1001, Measures: map[string]MeasureCell{"cold_start_ms": {Count: 1001, Sum: 421000, Hist: syntheticHist([]int64{400, 420})}}}},
		"os": {{Values: []any{"ios"}, Count: 1000, Measures: map[string]MeasureCell{"cold_start_ms": {Count: 1000, Sum: 420000}}},
			{Values: []any{"android"}, Count: 1, Measures: map[string]MeasureCell{"cold_start_ms": {Count: 1, Sum: 777}}}},
		"app_version": {{Values: []any{"1.2"}, Count: 1000}, {Values: []any{"9.9"}, Count: 1}},
	}
	got, _, err := p.Draw(context.Background(), zero, big.NewRat(1, 2), cells, true)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Released{}
	for _, r := range got {
		byKey[r.Grouping+" "+string(r.Key)] = r
	}
	// Without noise the values are the exact ones: the mechanism adds
	// noise to exact values and nothing else.
	if r := byKey[` []`]; r.Count != 1001 || r.Sums[0] != 421000 || len(r.Hists[0]) != p.Measures[0].Bins.Len() {
		t.Errorf("total %+v", r)
	}
	if r := byKey[`os ["android"]`]; r.Count != 1 || r.Sums[0] != 777 {
		t.Errorf("android: a public cell is released whatever its count: %+v", r)
	}
	// Partition selection: the one-event version is not released, the
	// 1000-event one is.
	if _, ok := byKey[`app_version ["9.9"]`]; ok {
		t.Error("a cell of one event passed partition selection")
	}
	if _, ok := byKey[`app_version ["1.2"]`]; !ok {
		t.Error("a cell of 1000 events did not pass partition selection")
	}
	// With distinct noise, nothing exact comes out.
	got, _, err = p.Draw(context.Background(), counter(), big.NewRat(1, 2), cells, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.Grouping == "os" && r.Key == `["android"]` && (r.Count == 1 || r.Sums[0] == 777 || len(r.Hists[0]) != 1) {
			t.Errorf("android %+v", r)
		}
	}
	if _, _, err := p.Draw(context.Background(), zero, big.NewRat(1, 2), map[string][]Cell{"os": {{Values: []any{}}}}, false); err == nil {
		t.Error("a cell with the wrong arity was accepted")
	}
}
