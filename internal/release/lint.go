package release

import (
	"math"

	"github.com/veil-telemetry/veil/internal/schema"
)

// RuleReleaseNoise is the warning Lint gives for a measure whose sums get
// large noise because its clamp defaults to wide validation bounds.
const RuleReleaseNoise = "release_noise"

// NoisySumWarning is the sensitivity (the largest |value| one event may
// add to a sum) above which a measure without x-veil-clamp is warned
// about: its sums' noise then dwarfs typical totals.
const NoisySumWarning = 10000

// Lint returns warnings about a schema's releases: measures whose clamp
// range defaults to validation bounds so wide that released sums are
// mostly noise. Warnings never refuse a schema.
func Lint(s *schema.Schema, histograms bool) []schema.Finding {
	p, err := NewPlan(s, histograms)
	if err != nil || p.Mode != schema.ModeDP {
		return nil
	}
	var out []schema.Finding
	sc := p.ScalesFor(p.Epsilon)
	for i, m := range p.Measures {
		prop, _ := s.Property(m.Name)
		if prop.ClampDeclared && !m.ClampWidened || m.Sensitivity.Cmp(bigInt(NoisySumWarning)) <= 0 {
			continue
		}
		sd := math.Sqrt(laplaceVariance(sc.Sums[i].RatString()))
		msg := "released sums get noise of standard deviation about " + sig(sd) + " per bucket (clamp [" +
			m.Lo.RatString() + ", " + m.Hi.RatString() + "] from the validation bounds); "
		if m.ClampWidened {
			msg += "x-veil-clamp takes effect only once the server keeps histograms"
		} else {
			msg += `declare "x-veil-clamp": [lo, hi] over the values that matter`
		}
		out = append(out, schema.Finding{Property: m.Name, Rule: RuleReleaseNoise, Message: msg, Warning: true})
	}
	return out
}
