package schema

import (
	"strconv"
	"strings"
	"testing"
)

// stringDim is a schema with one string dimension "v".
func stringDim(pattern string, minLen, maxLen int) string {
	p := strings.ReplaceAll(pattern, `\`, `\\`)
	lo := ""
	if minLen > 0 {
		lo = `"minLength":` + strconv.Itoa(minLen) + `,`
	}
	return schemaWith(`"v":{"type":"string","pattern":"` + p + `",` + lo + `"maxLength":` + strconv.Itoa(maxLen) + `,"x-veil-role":"dimension"}`)
}

func rules(findings []Finding) map[string]Finding {
	m := map[string]Finding{}
	for _, f := range findings {
		m[f.Rule] = f
	}
	return m
}

func TestPatternLint(t *testing.T) {
	for _, c := range []struct {
		pattern        string
		minLen, maxLen int
		want           string // rule refused, "" for accepted
		warn           bool   // a pattern_ipv4 warning too
	}{
		// free text
		{"^.*$", 0, 128, RulePatternIdentifier, true},
		{"^[ -~]*$", 0, 64, RulePatternIdentifier, true},
		{"^[A-Za-z ]{1,40}$", 0, 40, RulePatternIdentifier, false},
		{"^[0-9a-f]{32}$", 0, 32, RulePatternIdentifier, false},
		{"^[0-9A-Fa-f-]+$", 0, 36, RulePatternIdentifier, false},
		{"^[+0-9]+$", 0, 16, RulePatternIdentifier, false},
		{"^[a-z@.]+$", 0, 7, RulePatternIdentifier, false},
		// the length bounds hide the probes
		{"^[a-z@.]+$", 0, 6, "", false},
		{"^[a-z ]*$", 46, 50, "", false},
		// anchoring
		{"[a-z]+", 0, 16, RulePatternUnanchored, false},
		{"^[a-z]+", 0, 16, RulePatternUnanchored, false},
		{"[a-z]+$", 0, 16, RulePatternUnanchored, false},
		{"^a$|b", 0, 16, RulePatternUnanchored, false},
		{"(?m)^[a-z]+$", 0, 16, RulePatternUnanchored, false},
		{"^(ios|android)$", 0, 16, "", false},
		{"^ios$|^android$", 0, 16, "", false},
		{`\A[a-z]{2}\z`, 0, 2, "", false},
		{"^(?:[0-9]+)$", 0, 8, "", false},
		// bounded shapes telemetry uses
		{`^[0-9]+\.[0-9]+$`, 0, 16, "", false},
		{"^[a-z]{2}(-[A-Z]{2})?$", 0, 8, "", false},
		{"^[a-z_]*$", 0, 128, "", false},
		// four-part versions share the IPv4 shape: a warning only
		{`^[0-9]+(\.[0-9]+){0,3}$`, 0, 24, "", true},
		{"^[0-9.]+$", 0, 16, "", true},
	} {
		doc := stringDim(c.pattern, c.minLen, c.maxLen)
		got := rules(Lint([]byte(doc)))
		if c.want != "" {
			f, ok := got[c.want]
			if !ok || f.Property != "v" || f.Warning {
				t.Errorf("%q (maxLength %d): want %s, got %v", c.pattern, c.maxLen, c.want, got)
			}
			if _, err := Compile([]byte(doc)); err == nil {
				t.Errorf("%q: Compile accepted it", c.pattern)
			}
		} else {
			if _, err := Compile([]byte(doc)); err != nil {
				t.Errorf("%q (minLength %d maxLength %d): refused: %v", c.pattern, c.minLen, c.maxLen, err)
			}
		}
		if w, ok := got[RulePatternIPv4]; ok != c.warn || ok && !w.Warning {
			t.Errorf("%q: pattern_ipv4 warning %v (%+v), want %v", c.pattern, ok, w, c.warn)
		}
	}
}

func TestPatternFindingNamesTheRule(t *testing.T) {
	for _, f := range Lint([]byte(stringDim("^.*$", 0, 128))) {
		if f.Rule == RulePatternIdentifier && !strings.Contains(f.Message, "accepts") {
			t.Errorf("message %q does not say what the pattern accepts", f.Message)
		}
		if f.Rule == RulePatternIPv4 && !strings.HasPrefix(f.String(), "warning: v: pattern_ipv4: ") {
			t.Errorf("warning renders as %q", f.String())
		}
	}
}

func TestLintEnumControlCharacter(t *testing.T) {
	got := rules(Lint([]byte(schemaWith(`"v":{"enum":["ok","bad\u0000"],"x-veil-role":"dimension"}`))))
	if _, ok := got[RuleControlCharacter]; !ok {
		t.Errorf("enum with NUL: %v", got)
	}
	got = rules(Lint([]byte(schemaWith(`"v":{"enum":[4111111111111111],"x-veil-role":"dimension"}`))))
	if _, ok := got[RuleIdentifyingEnum]; !ok {
		t.Errorf("enum with a card number: %v", got)
	}
}

// TestCompileLenient: a refused document still yields a Schema for trying
// events, with every finding; one the library cannot compile does not.
func TestCompileLenient(t *testing.T) {
	doc := `{"x-veil":{"name":"t.e","version":3},"type":"object","additionalProperties":false,"properties":{
		"email":{"type":"string","pattern":"^.*$","maxLength":64,"x-veil-role":"dimension"}}}`
	if _, err := Compile([]byte(doc)); err == nil {
		t.Fatal("Compile accepted a refused document")
	}
	s, findings, err := CompileLenient([]byte(doc))
	if err != nil || s == nil {
		t.Fatalf("CompileLenient: %v", err)
	}
	got := rules(findings)
	if _, ok := got[RuleIdentifyingName]; !ok {
		t.Errorf("findings %v", findings)
	}
	if s.Name != "t.e" || s.Version != 3 {
		t.Errorf("schema %s v%d", s.Name, s.Version)
	}
	if r := s.Check(map[string]any{"email": "write to jane@example.com"}); r == nil || r.Reason != ReasonIdentifierEmail {
		t.Errorf("Check: %+v", r)
	}
	if r := s.Check(map[string]any{"email": "fine"}); r != nil {
		t.Errorf("Check: %+v", r)
	}
	if _, _, err := CompileLenient([]byte(`{"x-veil":{"name":"t.e","version":1},"properties":{"a":{"pattern":"("}}}`)); err == nil {
		t.Error("a document the library refuses compiled")
	}
	if _, _, err := CompileLenient([]byte(`[]`)); err == nil {
		t.Error("not an object compiled")
	}
}
