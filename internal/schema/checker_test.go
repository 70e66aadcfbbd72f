package schema

import (
	"errors"
	"strings"
	"testing"
)

// compileDoc is a lint-clean document with one extra property.
func compileDoc(prop string) string {
	return `{"x-veil":{"name":"t.compile","version":1},"type":"object","additionalProperties":false,
	  "properties":{"os":{"enum":["ios"],"x-veil-role":"dimension"},` + prop + `}}`
}

// TestCompilerRefuses: a document lint accepts but the checker compiler
// cannot handle is refused at registration with a RuleCompiler finding,
// and is not registered to be validated some other way.
func TestCompilerRefuses(t *testing.T) {
	tests := []struct{ name, prop string }{
		{"bound beyond float64", `"n":{"type":"number","minimum":0,"maximum":1e400,"x-veil-role":"measure"}`},
		{"negative bound beyond float64", `"n":{"type":"number","minimum":-2e308,"maximum":0,"x-veil-role":"measure"}`},
		{"bound too long to compare", `"n":{"type":"number","minimum":0,"maximum":1.` + strings.Repeat("1", 70) + `,"x-veil-role":"measure"}`},
		{"integer dimension beyond int64", `"n":{"type":"integer","minimum":0,"maximum":1e20,"x-veil-role":"dimension"}`},
		{"integer dimension below int64", `"n":{"type":"integer","minimum":-9223372036854775809,"maximum":0,"x-veil-role":"dimension"}`},
		{"multipleOf with 20 digits", `"n":{"type":"number","minimum":0,"maximum":1,"multipleOf":0.12345678901234567891,"x-veil-role":"measure"}`},
		{"multipleOf beyond float64 precision range", `"n":{"type":"number","minimum":0,"maximum":1,"multipleOf":1e-500,"x-veil-role":"measure"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := []byte(compileDoc(tt.prop))
			_, err := Compile(doc)
			var le *LintError
			if !errors.As(err, &le) {
				t.Fatalf("Compile: %v, want a *LintError", err)
			}
			found := false
			for _, f := range le.Findings {
				if f.Rule == RuleCompiler && f.Property == "n" {
					found = true
				} else if f.Rule != RuleJSONSchema {
					// Only the compiler (and, for a few, the library)
					// refuses these: lint alone would accept them.
					t.Errorf("unexpected finding %v", f)
				}
			}
			if !found {
				t.Errorf("findings %v lack a %s finding on n", le.Findings, RuleCompiler)
			}
			if s, _, err := CompileLenient(doc); err == nil && s.check != nil {
				t.Errorf("CompileLenient compiled a checker for it")
			}
		})
	}
}

// TestCompilerAccepts: the same keywords within range compile, and Lint
// of a refused document names the compiler's finding.
func TestCompilerAccepts(t *testing.T) {
	for _, prop := range []string{
		`"n":{"type":"number","minimum":-1e300,"maximum":1e300,"x-veil-role":"measure"}`,
		`"n":{"type":"integer","minimum":-9223372036854775808,"maximum":9223372036854775807,"x-veil-role":"dimension"}`,
		`"n":{"type":"number","minimum":0,"maximum":1,"multipleOf":0.1234567890123456789,"x-veil-role":"measure"}`,
		`"n":{"enum":[1,-9223372036854775808],"x-veil-role":"dimension"}`,
	} {
		s, err := Compile([]byte(compileDoc(prop)))
		if err != nil {
			t.Errorf("%s: %v", prop, err)
			continue
		}
		if s.check == nil {
			t.Errorf("%s: no checker", prop)
		}
	}
	found := false
	for _, f := range Lint([]byte(compileDoc(`"n":{"type":"number","minimum":0,"maximum":1e400,"x-veil-role":"measure"}`))) {
		found = found || f.Rule == RuleCompiler
	}
	if !found {
		t.Error("Lint does not report the compiler's refusal")
	}
}

func TestDecimal(t *testing.T) {
	parse := func(s string) decimal {
		t.Helper()
		var d decimal
		if !parseDecimal(s, &d) {
			t.Fatalf("parseDecimal(%q) failed", s)
		}
		return d
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "--1", "0x10", "NaN", "Infinity", strings.Repeat("1", 65)} {
		var d decimal
		if parseDecimal(bad, &d) {
			t.Errorf("parseDecimal(%q) accepted", bad)
		}
	}
	equal := [][]string{
		{"0", "-0", "0.000", "0e10", "-0.0e-5"},
		{"1", "1.0", "1e0", "10e-1", "0.1e1", "100E-2"},
		{"-12.5", "-125e-1", "-0.125e2"},
		{"1e300", "10e299", "0.01e302"},
	}
	for _, group := range equal {
		a := parse(group[0])
		for _, s := range group[1:] {
			if b := parse(s); a.cmp(&b) != 0 || b.cmp(&a) != 0 {
				t.Errorf("%s != %s", group[0], s)
			}
		}
	}
	ordered := []string{"-1e300", "-9223372036854775809", "-9223372036854775808", "-2", "-1.5", "-1", "-0.001", "0",
		"1e-400", "0.001", "0.0010000001", "0.3", "0.30000000000000004", "1", "1.0000000000000000001", "2",
		"9007199254740992", "9007199254740993", "9223372036854775807", "9223372036854775808", "1e300"}
	for i := range ordered {
		for j := range ordered {
			a, b := parse(ordered[i]), parse(ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.cmp(&b); got != want {
				t.Errorf("cmp(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	ints := map[string]int64{"0": 0, "1e2": 100, "-9223372036854775808": -1 << 63, "9223372036854775807": 1<<63 - 1, "12.0": 12}
	for s, want := range ints {
		d := parse(s)
		if got, ok := d.int64(); !ok || got != want {
			t.Errorf("int64(%s) = %d %v", s, got, ok)
		}
	}
	for _, s := range []string{"9223372036854775808", "-9223372036854775809", "1.5", "1e19", "1e-1"} {
		d := parse(s)
		if _, ok := d.int64(); ok {
			t.Errorf("int64(%s) succeeded", s)
		}
	}
	multiples := []struct {
		v, m string
		want bool
	}{
		{"0", "0.05", true}, {"0.15", "0.05", true}, {"0.151", "0.05", false}, {"1e300", "3", false},
		{"3e300", "3", true}, {"7", "2", false}, {"-8", "2", true}, {"0.0000003", "1e-7", true},
		{"0.00000035", "1e-7", false}, {"18446744073709551615", "5", true}, {"1e1000000", "7", false},
		{"9.5", "0.5", true}, {"9.5", "1.9", true}, {"9.5", "1.8", false},
	}
	for _, tt := range multiples {
		v, m := parse(tt.v), parse(tt.m)
		mm, mp, ok := m.mantissa()
		if !ok {
			t.Fatalf("mantissa(%s)", tt.m)
		}
		if got := v.multipleOf(mm, mp); got != tt.want {
			t.Errorf("%s multipleOf %s = %v", tt.v, tt.m, got)
		}
	}
}

// TestCheckAllocs: an accepted event costs no allocation beyond the
// split's output.
func TestCheckAllocs(t *testing.T) {
	s := mustCompile(t, diffSchemas[0])
	fields := []Field{
		{Name: "os", Type: TypeString, Text: "android"},
		{Name: "app_version", Type: TypeString, Text: "12.4"},
		{Name: "locale", Type: TypeString, Text: "de-DE"},
		{Name: "cold_start_ms", Type: TypeNumber, Text: "420"},
		{Name: "warm", Type: TypeBool},
		{Name: "screens", Type: TypeNumber, Text: "3"},
	}
	if n := testing.AllocsPerRun(100, func() {
		if rej := s.CheckFields(fields); rej != nil {
			t.Fatal(rej)
		}
	}); n != 0 {
		t.Errorf("CheckFields allocates %v times per event", n)
	}
}

func BenchmarkCheckFields(b *testing.B) {
	s := mustCompile(b, diffSchemas[0])
	fields := []Field{
		{Name: "os", Type: TypeString, Text: "android"},
		{Name: "app_version", Type: TypeString, Text: "12.4"},
		{Name: "locale", Type: TypeString, Text: "de-DE"},
		{Name: "cold_start_ms", Type: TypeNumber, Text: "420"},
		{Name: "warm", Type: TypeBool},
		{Name: "screens", Type: TypeNumber, Text: "3"},
	}
	m := map[string]any{}
	for _, f := range fields {
		m[f.Name] = fieldsToMap([]Field{f})[f.Name]
	}
	b.Run("compiled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rej := s.CheckFields(fields); rej != nil {
				b.Fatal(rej)
			}
		}
	})
	b.Run("split", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, rej := s.CheckSplit(fields); rej != nil {
				b.Fatal(rej)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rej := s.referenceCheck(m); rej != nil {
				b.Fatal(rej)
			}
		}
	})
}
