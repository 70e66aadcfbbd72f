package schema

import (
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// A string dimension is bounded by its pattern and maxLength. A pattern
// that is not anchored at both ends, or that accepts an identifier, makes
// the dimension free text: lint compiles the pattern and tries probe
// identifiers on it, each within the property's length bounds.

// patternProbe is one value a dimension pattern must refuse. Probes of one
// kind range from short to long, so a small maxLength does not hide a
// pattern that would take a short identifier.
type patternProbe struct {
	what  string // as named in the finding
	value string
}

// patternProbes are identifiers of the shapes free text carries. The
// detectors would still refuse each of these values; the rule is about
// the pattern, which would let the next spelling through.
var patternProbes = [...]patternProbe{
	{"an e-mail address", "j@ex.io"},
	{"an e-mail address", "jane.doe@example.com"},
	{"an e-mail address", "firstname.lastname@mail.example.org"},
	{"a phone number", "+14155552671"},
	{"a phone number", "415-555-2671"},
	{"a phone number", "+1 415 555 2671"},
	{"a phone number", "(415) 555-2671"},
	{"a UUID", "123e4567-e89b-12d3-a456-426614174000"},
	{"a UUID", "123E4567-E89B-12D3-A456-426614174000"},
	{"a 32-hex-digit token", "9f86d081884c7d659a2feaa0c55ad015"},
	{"a 32-hex-digit token", "9F86D081884C7D659A2FEAA0C55AD015"},
	{"a sentence with spaces", "a b c"},
	{"a sentence with spaces", "call me at home"},
	{"a sentence with spaces", "please call me back at home tonight"},
	{"a sentence with spaces", "Jane Doe lives at 12 Main Street, Springfield"},
}

// ipv4Probe only warns: four-part versions ("131.0.6778.85") share its
// shape, and the value detectors still check such values.
const ipv4Probe = "192.168.1.77"

// pattern checks a string dimension's pattern with its length bounds.
func (l *linter) pattern(name, pattern string, minLen, maxLen int) bool {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return true // the JSON Schema library reports it (rule json_schema)
	}
	if !anchored(tree) {
		l.add(name, RulePatternUnanchored, "the pattern must be anchored at both ends (^…$), or it accepts any text around a match")
		return false
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return true
	}
	fits := func(v string) bool {
		n := utf8.RuneCountInString(v)
		return n >= minLen && n <= maxLen && re.MatchString(v)
	}
	ok, said := true, map[string]bool{}
	for _, p := range patternProbes {
		if !said[p.what] && fits(p.value) {
			said[p.what] = true
			l.add(name, RulePatternIdentifier, "the pattern with maxLength %d accepts %s (%q): use an enum or a pattern that admits only the values you mean", maxLen, p.what, p.value)
			ok = false
		}
	}
	if fits(ipv4Probe) {
		l.warn(name, RulePatternIPv4, "the pattern with maxLength %d accepts an IPv4-shaped value (%q); values are still checked by the detectors", maxLen, ipv4Probe)
	}
	return ok
}

// anchored reports whether every match of re spans the whole text: re is
// a concatenation beginning with ^ (\A) and ending with $ (\z), or a
// group or alternation of such. Multi-line anchors ((?m)^) do not count.
func anchored(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpCapture:
		return anchored(re.Sub[0])
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !anchored(sub) {
				return false
			}
		}
		return len(re.Sub) > 0
	case syntax.OpConcat:
		return len(re.Sub) > 0 && atEdge(re.Sub[0], syntax.OpBeginText, 0) && atEdge(re.Sub[len(re.Sub)-1], syntax.OpEndText, -1)
	}
	return false
}

// atEdge reports whether re is the anchor op, or a group or concatenation
// whose first (end 0) or last (end -1) element is.
func atEdge(re *syntax.Regexp, op syntax.Op, end int) bool {
	switch re.Op {
	case op:
		return true
	case syntax.OpCapture:
		return atEdge(re.Sub[0], op, end)
	case syntax.OpConcat:
		if len(re.Sub) == 0 {
			return false
		}
		i := 0
		if end < 0 {
			i = len(re.Sub) - 1
		}
		return atEdge(re.Sub[i], op, end)
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !atEdge(sub, op, end) {
				return false
			}
		}
		return len(re.Sub) > 0
	}
	return false
}
