package release

import (
	"context"
	"math/big"
	"slices"
	"testing"

	"github.com/veil-telemetry/veil/internal/schema"
)

// FuzzPlan: any x-veil.release block and x-veil-clamp the linter accepts
// yields a plan that can be drawn (NewPlan never fails after Compile),
// whose groupings name only dimensions, and drawing it on empty data
// never panics; anything refused is refused with a lint error.
func FuzzPlan(f *testing.F) {
	for _, seed := range [][2]string{
		{``, ``},
		{`, "release": {"mode": "exact"}`, ``},
		{`, "release": {"epsilon": 0.25, "plan": [["os", "app_version"], []]}`, `, "x-veil-clamp": [10, 5000]`},
		{`, "release": {"plan": [["app_version"]]}`, `, "x-veil-clamp": [-5, 5]`},
		{`, "release": {"epsilon": 1e400000000}`, ``},
		{`, "release": {"plan": [[]], "unit": "event"}`, `, "x-veil-clamp": [0.5, 1]`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, release, clamp string) {
		if len(release)+len(clamp) > 512 {
			return
		}
		doc := `{"$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "app.launch", "version": 1` + release + `},
  "type": "object", "additionalProperties": false, "required": ["os"],
  "properties": {
    "os": {"enum": ["android", "ios"], "x-veil-role": "dimension"},
    "app_version": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$", "maxLength": 16, "x-veil-role": "dimension"},
    "ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure"` + clamp + `}}}`
		s, err := schema.Compile([]byte(doc))
		if err != nil {
			if _, ok := err.(*schema.LintError); !ok {
				t.Fatalf("refused without a lint error: %v", err)
			}
			return
		}
		for _, hist := range []bool{false, true} {
			p, err := NewPlan(s, hist)
			if err != nil {
				t.Fatalf("accepted schema, no plan: %v", err)
			}
			for _, g := range p.Groupings {
				for _, d := range g.Dims {
					if !slices.Contains(s.Dimensions, d) {
						t.Fatalf("plan names %q", d)
					}
				}
			}
			if p.Epsilon.Sign() <= 0 || p.Epsilon.Cmp(big.NewRat(schema.MaxEpsilon, 1)) > 0 {
				t.Fatalf("ε %v", p.Epsilon)
			}
			if _, _, err := p.Draw(context.Background(), zero, p.Epsilon, nil, hist); err != nil {
				t.Fatal(err)
			}
		}
	})
}
