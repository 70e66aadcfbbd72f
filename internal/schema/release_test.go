package schema

import (
	"slices"
	"strings"
	"testing"
)

func releaseDoc(release, clamp string) string {
	r := ""
	if release != "" {
		r = `, "release": ` + release
	}
	c := ""
	if clamp != "" {
		c = `, "x-veil-clamp": ` + clamp
	}
	return `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "app.launch", "version": 1` + r + `},
  "type": "object", "additionalProperties": false, "required": ["os"],
  "properties": {
    "os":            {"enum": ["android", "ios"], "x-veil-role": "dimension"},
    "app_version":   {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$", "maxLength": 16, "x-veil-role": "dimension"},
    "cold_start_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure"` + c + `}
  }
}`
}

func TestReleaseDefaults(t *testing.T) {
	s, err := Compile([]byte(releaseDoc("", "")))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Release()
	if r.Mode != ModeDP || r.Epsilon != "1" || r.Unit != UnitEvent || r.Declared {
		t.Errorf("release %+v", r)
	}
	want := [][]string{{}, {"app_version"}, {"os"}}
	if !slices.EqualFunc(r.Plan, want, slices.Equal) {
		t.Errorf("plan %q, want %q", r.Plan, want)
	}
	p, ok := s.Property("cold_start_ms")
	if !ok || p.Clamp != [2]string{"0", "600000"} || p.ClampDeclared || p.Role != RoleMeasure || p.Type != "integer" {
		t.Errorf("measure %+v", p)
	}
	os, _ := s.Property("os")
	av, _ := s.Property("app_version")
	if !os.PublicDomain() || !os.Required || av.PublicDomain() || av.Required || av.Pattern == "" {
		t.Errorf("dimensions %+v %+v", os, av)
	}
	// Release returns copies.
	r.Plan[1][0] = "x"
	if s.Release().Plan[1][0] != "app_version" {
		t.Error("Release shares its plan")
	}
}

func TestReleaseDeclared(t *testing.T) {
	s, err := Compile([]byte(releaseDoc(`{"mode": "exact", "epsilon": 0.5, "plan": [["os", "app_version"], []]}`, `[10, 5000]`)))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Release()
	if r.Mode != ModeExact || r.Epsilon != "0.5" || !r.Declared {
		t.Errorf("release %+v", r)
	}
	if want := [][]string{{"app_version", "os"}, {}}; !slices.EqualFunc(r.Plan, want, slices.Equal) {
		t.Errorf("plan %q", r.Plan)
	}
	if p, _ := s.Property("cold_start_ms"); p.Clamp != [2]string{"10", "5000"} || !p.ClampDeclared {
		t.Errorf("clamp %+v", p)
	}
}

func TestReleaseRefused(t *testing.T) {
	for _, tc := range []struct {
		name, release, clamp, rule, msg string
	}{
		{"not an object", `"dp"`, "", RuleRelease, "must be an object"},
		{"unknown member", `{"k": 3}`, "", RuleRelease, "unknown member"},
		{"mode", `{"mode": "fuzzy"}`, "", RuleRelease, "mode"},
		{"unit", `{"unit": "client"}`, "", RuleRelease, "unit"},
		{"epsilon zero", `{"epsilon": 0}`, "", RuleRelease, "epsilon"},
		{"epsilon large", `{"epsilon": 11}`, "", RuleRelease, "epsilon"},
		{"epsilon exponent", `{"epsilon": 1e0}`, "", RuleRelease, "epsilon"},
		{"epsilon string", `{"epsilon": "1"}`, "", RuleRelease, "epsilon"},
		{"plan empty", `{"plan": []}`, "", RuleRelease, "plan"},
		{"plan not dimension", `{"plan": [["cold_start_ms"]]}`, "", RuleRelease, "not a dimension"},
		{"plan twice", `{"plan": [["os"], ["os"]]}`, "", RuleRelease, "twice"},
		{"plan name twice", `{"plan": [["os", "os"]]}`, "", RuleRelease, "twice"},
		{"plan not lists", `{"plan": ["os"]}`, "", RuleRelease, "grouping"},
		{"clamp order", "", `[5, 5]`, RuleClamp, "lo < hi"},
		{"clamp shape", "", `[5]`, RuleClamp, "[lo, hi]"},
		{"clamp fraction", "", `[0.5, 5]`, RuleClamp, "integers"},
		{"clamp huge", "", `[0, 100000000000000]`, RuleClamp, "within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile([]byte(releaseDoc(tc.release, tc.clamp)))
			le, ok := err.(*LintError)
			if !ok {
				t.Fatalf("got %v", err)
			}
			found := false
			for _, f := range le.Findings {
				found = found || f.Rule == tc.rule && strings.Contains(f.Message, tc.msg)
			}
			if !found {
				t.Errorf("findings %v, want %s containing %q", le.Findings, tc.rule, tc.msg)
			}
		})
	}
	doc := strings.Replace(releaseDoc("", ""), `"x-veil-role": "dimension"}`, `"x-veil-role": "dimension", "x-veil-clamp": [0, 1]}`, 1)
	if _, err := Compile([]byte(doc)); err == nil || !strings.Contains(err.Error(), RuleClamp) {
		t.Errorf("clamp on a dimension: %v", err)
	}
}
