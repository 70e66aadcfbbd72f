package schema

import (
	"encoding/json"
	"math/big"
	"slices"
	"strings"
)

// Release modes (x-veil.release.mode).
const (
	// ModeDP releases aggregates with differential-privacy noise under a
	// per-bucket ε budget; the default.
	ModeDP = "dp"
	// ModeExact releases exact aggregates of groups of at least k events;
	// every answer is labelled subtractable.
	ModeExact = "exact"
)

// Release limits and defaults.
const (
	// DefaultEpsilon is the ε per bucket of a schema that names none.
	DefaultEpsilon = "1"
	// MaxEpsilon bounds x-veil.release.epsilon: past it the noise protects
	// next to nothing.
	MaxEpsilon = 10
	// MaxPlanGroupings bounds a plan's groupings, MaxGroupingDimensions
	// the dimensions of one: each grouping takes a share of the budget.
	MaxPlanGroupings      = 16
	MaxGroupingDimensions = 4
	// UnitEvent is the unit a release protects by default: one event.
	UnitEvent = "event"
	// maxDecimal bounds the text of ε and clamp bounds.
	maxDecimal = 24
)

// Release lint rules.
const (
	RuleRelease = "release" // x-veil.release is invalid
	RuleClamp   = "clamp"   // x-veil-clamp is invalid or on a dimension
)

// maxClamp bounds |x-veil-clamp| so every clamped sum of up to 2^40
// events fits an int64 (10^7 · 2^40 < 2^63).
var maxClamp = big.NewRat(10_000_000_000_000, 1)

// Release is a schema's release policy (x-veil.release).
type Release struct {
	// Mode is ModeDP (the default) or ModeExact.
	Mode string
	// Epsilon is the ε per bucket as a plain decimal ("1", "0.5").
	Epsilon string
	// Plan lists the released groupings, each a sorted list of
	// dimensions. Default: the total ([]) and each dimension alone.
	Plan [][]string
	// Unit is what one release protects: UnitEvent.
	Unit string
	// Declared reports whether the document had x-veil.release.
	Declared bool
}

// Property describes one declared property for releases and reports.
type Property struct {
	Name     string
	Role     string // RoleDimension or RoleMeasure
	Type     string // "string", "integer", "number", "boolean", or "" (enum only)
	Required bool
	// Enum holds enum/const values (string, bool or json.Number).
	Enum []any
	// Pattern is the string pattern, "" when none.
	Pattern string
	// Min and Max are the validation bounds as written ("" when absent;
	// an exclusive bound as its value).
	Min, Max string
	// Clamp is a measure's release range: x-veil-clamp, else [Min, Max].
	Clamp [2]string
	// ClampDeclared reports an explicit x-veil-clamp.
	ClampDeclared bool
}

// PublicDomain reports whether the dimension's values are known without
// looking at data (an enum, const or boolean), so every cell of a grouping
// over it can be released, none withheld.
func (p Property) PublicDomain() bool { return p.Enum != nil || p.Type == "boolean" }

// Release returns the schema's release policy.
func (s *Schema) Release() Release {
	r := s.release
	r.Plan = make([][]string, len(s.release.Plan))
	for i, g := range s.release.Plan {
		r.Plan[i] = slices.Clone(g)
	}
	return r
}

// Property returns a declared property.
func (s *Schema) Property(name string) (Property, bool) {
	p, ok := s.properties[name]
	p.Enum = slices.Clone(p.Enum)
	return p, ok
}

// describe builds a Property from its schema object.
func describe(name string, ps map[string]any, required bool) Property {
	p := Property{Name: name, Required: required}
	p.Role, _ = ps["x-veil-role"].(string)
	p.Type, _ = ps["type"].(string)
	if e, ok := ps["enum"].([]any); ok {
		p.Enum = slices.Clone(e)
	}
	if c, ok := ps["const"]; ok {
		p.Enum = append(p.Enum, c)
	}
	p.Pattern, _ = ps["pattern"].(string)
	p.Min = numberText(ps["minimum"], ps["exclusiveMinimum"])
	p.Max = numberText(ps["maximum"], ps["exclusiveMaximum"])
	p.Clamp = [2]string{p.Min, p.Max}
	if c, ok := ps["x-veil-clamp"].([]any); ok && len(c) == 2 {
		p.Clamp = [2]string{numberText(c[0]), numberText(c[1])}
		p.ClampDeclared = true
	}
	return p
}

func numberText(vs ...any) string {
	for _, v := range vs {
		if n, ok := v.(json.Number); ok {
			return n.String()
		}
	}
	return ""
}

// plainDecimal parses a decimal without exponent ("0.5", "-3"), bounded in
// length, so no document can make big.Rat build a huge number.
func plainDecimal(v any) (*big.Rat, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, false
	}
	s := strings.TrimPrefix(n.String(), "-")
	if len(s) == 0 || len(s) > maxDecimal || strings.Trim(s, "0123456789.") != "" {
		return nil, false
	}
	return new(big.Rat).SetString(n.String())
}

// release lints x-veil.release once the dimensions are known.
func (l *linter) release(v any, p *parsed) {
	p.release = Release{Mode: ModeDP, Epsilon: DefaultEpsilon, Unit: UnitEvent}
	defer func() {
		if p.release.Plan == nil {
			p.release.Plan = [][]string{{}}
			for _, d := range p.dims {
				p.release.Plan = append(p.release.Plan, []string{d})
			}
		}
	}()
	if v == nil {
		return
	}
	p.release.Declared = true
	rv, ok := v.(map[string]any)
	if !ok {
		l.add("", RuleRelease, "x-veil.release must be an object with mode, epsilon and plan")
		return
	}
	for _, k := range sortedKeys(rv) {
		switch k {
		case "mode", "epsilon", "plan", "unit":
		default:
			l.add("", RuleRelease, "x-veil.release has unknown member %q", k)
		}
	}
	if m, ok := rv["mode"]; ok {
		s, _ := m.(string)
		if s != ModeDP && s != ModeExact {
			l.add("", RuleRelease, `x-veil.release.mode must be "dp" or "exact"`)
		} else {
			p.release.Mode = s
		}
	}
	if u, ok := rv["unit"]; ok {
		if s, _ := u.(string); s != UnitEvent {
			l.add("", RuleRelease, `x-veil.release.unit must be "event" (the only unit this server enforces)`)
		}
	}
	if e, ok := rv["epsilon"]; ok {
		r, ok := plainDecimal(e)
		if !ok || r.Sign() <= 0 || r.Cmp(big.NewRat(MaxEpsilon, 1)) > 0 {
			l.add("", RuleRelease, "x-veil.release.epsilon must be a plain decimal above 0 and at most %d", MaxEpsilon)
		} else {
			p.release.Epsilon = e.(json.Number).String()
		}
	}
	if pl, ok := rv["plan"]; ok {
		p.release.Plan = l.plan(pl, p.dims)
	}
}

// plan lints a plan: a non-empty list of groupings, each a list of
// distinct dimensions, no grouping twice.
func (l *linter) plan(v any, dims []string) [][]string {
	list, ok := v.([]any)
	if !ok || len(list) == 0 || len(list) > MaxPlanGroupings {
		l.add("", RuleRelease, "x-veil.release.plan must be a list of 1 to %d groupings, each a list of dimension names", MaxPlanGroupings)
		return nil
	}
	var out [][]string
	seen := map[string]bool{}
	for _, g := range list {
		names, ok := g.([]any)
		if !ok || len(names) > MaxGroupingDimensions {
			l.add("", RuleRelease, "a grouping of x-veil.release.plan must be a list of at most %d dimension names", MaxGroupingDimensions)
			return nil
		}
		var grouping []string
		for _, n := range names {
			s, _ := n.(string)
			if !slices.Contains(dims, s) {
				l.add("", RuleRelease, "x-veil.release.plan names %s, which is not a dimension", quoteShort(n))
				return nil
			}
			if slices.Contains(grouping, s) {
				l.add("", RuleRelease, "a grouping of x-veil.release.plan names %q twice", s)
				return nil
			}
			grouping = append(grouping, s)
		}
		slices.Sort(grouping)
		key := strings.Join(grouping, "\x00")
		if seen[key] {
			l.add("", RuleRelease, "x-veil.release.plan lists the grouping %v twice", grouping)
			return nil
		}
		seen[key] = true
		out = append(out, grouping)
	}
	return out
}

// clamp lints a property's x-veil-clamp: measures only, two plain
// decimals lo < hi within ±maxClamp, integers for an integer measure.
func (l *linter) clamp(name, role, typ string, ps map[string]any) bool {
	c, ok := ps["x-veil-clamp"]
	if !ok {
		return true
	}
	if role != RoleMeasure {
		l.add(name, RuleClamp, "x-veil-clamp applies to measures only")
		return false
	}
	pair, ok := c.([]any)
	if !ok || len(pair) != 2 {
		l.add(name, RuleClamp, "x-veil-clamp must be [lo, hi]")
		return false
	}
	lo, okLo := plainDecimal(pair[0])
	hi, okHi := plainDecimal(pair[1])
	if !okLo || !okHi || lo.Cmp(hi) >= 0 {
		l.add(name, RuleClamp, "x-veil-clamp must be two plain decimals lo < hi")
		return false
	}
	if new(big.Rat).Abs(lo).Cmp(maxClamp) > 0 || new(big.Rat).Abs(hi).Cmp(maxClamp) > 0 {
		l.add(name, RuleClamp, "x-veil-clamp bounds must lie within ±%s", maxClamp.RatString())
		return false
	}
	if typ == "integer" && (!lo.IsInt() || !hi.IsInt()) {
		l.add(name, RuleClamp, "x-veil-clamp of an integer measure must be integers")
		return false
	}
	return true
}
