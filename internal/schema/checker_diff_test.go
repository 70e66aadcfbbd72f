package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// diffSchemas are the documents the differential tests compile both ways.
// Between them they use every keyword the compiler accepts, the number
// forms JSON Schema treats specially (exclusive bounds, decimal
// multipleOf, integral spellings of integers) and enums of every scalar
// type. The lenient ones break a lint rule the checker does not depend on.
var diffSchemas = []string{
	// 0: the typical app.launch event.
	`{"$schema":"https://json-schema.org/draft/2020-12/schema","x-veil":{"name":"app.launch","version":1},
	  "type":"object","additionalProperties":false,"required":["os"],"properties":{
	  "os":{"enum":["android","ios"],"x-veil-role":"dimension"},
	  "app_version":{"type":"string","pattern":"^[0-9]+\\.[0-9]+$","maxLength":16,"x-veil-role":"dimension"},
	  "locale":{"type":"string","pattern":"^[a-z]{2}(-[A-Z]{2})?$","maxLength":5,"x-veil-role":"dimension"},
	  "cold_start_ms":{"type":"integer","minimum":0,"maximum":600000,"x-veil-role":"measure"},
	  "warm":{"type":"boolean","x-veil-role":"dimension"},
	  "screens":{"type":"integer","minimum":0,"maximum":1000,"x-veil-role":"measure"}}}`,
	// 1: exclusive bounds, decimals, multipleOf, const, mixed enum.
	`{"x-veil":{"name":"t.numbers","version":1},"type":"object","additionalProperties":false,
	  "required":["ratio","level"],"properties":{
	  "ratio":{"type":"number","exclusiveMinimum":0,"maximum":1,"multipleOf":0.05,"x-veil-role":"measure"},
	  "level":{"type":"integer","minimum":-10,"exclusiveMaximum":10,"multipleOf":2,"x-veil-role":"dimension"},
	  "big":{"type":"number","minimum":-1e300,"maximum":1e300,"x-veil-role":"measure"},
	  "wide":{"type":"integer","minimum":-9223372036854775808,"maximum":9223372036854775807,"x-veil-role":"dimension"},
	  "fine":{"type":"number","minimum":0.001,"maximum":0.002,"multipleOf":1e-7,"x-veil-role":"measure"},
	  "code":{"enum":[1,2.0,30,"x",true],"x-veil-role":"dimension"},
	  "fixed":{"const":"v1","x-veil-role":"dimension"},
	  "both":{"type":"integer","minimum":1,"exclusiveMinimum":1,"maximum":5,"exclusiveMaximum":6,"x-veil-role":"measure"}}}`,
	// 2: strings: length bounds in characters, a pattern with an
	// alternation, an enum with a typed property.
	`{"x-veil":{"name":"t.strings","version":1},"type":"object","additionalProperties":false,
	  "required":["kind","tag"],"properties":{
	  "kind":{"type":"string","enum":["a","bb","ccc","é"],"x-veil-role":"dimension"},
	  "tag":{"type":"string","pattern":"^(red|green|blue)$","minLength":3,"maxLength":5,"x-veil-role":"dimension"},
	  "word":{"type":"string","pattern":"^[a-zé]*$","minLength":2,"maxLength":4,"x-veil-role":"dimension"},
	  "flag":{"type":"boolean","const":true,"x-veil-role":"dimension"},
	  "ms":{"type":"integer","minimum":0,"maximum":100000000000,"x-veil-role":"measure"}}}`,
	// 3 (lenient: unbounded numbers, an unanchored pattern, no required).
	`{"x-veil":{"name":"t.lenient","version":1},"type":"object","properties":{
	  "n":{"type":"number","x-veil-role":"measure"},
	  "i":{"type":"integer","x-veil-role":"measure"},
	  "s":{"type":"string","pattern":"ab","x-veil-role":"dimension"},
	  "u":{"enum":[false,0,"0"],"x-veil-role":"dimension"},
	  "any":{"minimum":5,"maxLength":2,"x-veil-role":"measure"}}}`,
}

// diffValues are the JSON values the table test tries in every property.
var diffValues = []string{
	`null`, `true`, `false`, `{}`, `[]`, `{"a":1}`, `[1]`,
	`0`, `-0`, `1`, `1.0`, `1e0`, `1E0`, `10e-1`, `2`, `2.0`, `3`, `4`, `5`, `6`, `8`, `-8`, `-10`, `-11`, `10`,
	`11`, `30`, `30.0`, `0.05`, `0.1`, `0.15`, `0.95`, `1.05`, `0.5`, `0.30000000000000004`,
	`0.001`, `0.0015`, `0.00150001`, `0.0010000001`, `0.002`, `0.0020000001`, `1e-7`,
	`600000`, `600001`, `599999.5`, `6e5`, `6.000001e5`, `1000`, `1001`, `-1`, `-0.0`,
	`1e300`, `1.0000000000000001e300`, `-1e300`, `1e301`, `1e400`, `-1e400`, `1e-400`,
	`9007199254740993`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775808`,
	`-9223372036854775809`, `18446744073709551616`, `100000000000`, `100000000001`,
	`4111111111111111`, `3232235853`, `14155552671`, `490154203237518`, `16777216`,
	`12345678901234567890123`, `1` + strings.Repeat("0", 70),
	`""`, `"a"`, `"bb"`, `"ccc"`, `"é"`, `"ée"`, `"éé"`, `"x"`, `"v1"`, `"0"`, `"ios"`, `"android"`, `"iOS"`,
	`"red"`, `"green"`, `"blue"`, `"redd"`, `"12.4"`, `"12.4.1"`, `"de-DE"`, `"de"`, `"ab"`, `"xaby"`,
	`"jane@example.com"`, `"a\u0001b"`, `"a\u0085b"`, `"+1 415 555 2671"`, `"192.168.1.77"`,
	`"` + strings.Repeat("x", 200) + `"`, `"` + strings.Repeat("é", 5) + `"`,
}

// diffNames are field names besides each schema's own.
var diffNames = []string{"extra", "jane@example.com", "a b"}

// checkBoth compiles nothing: it runs s's checker and the reference on
// the fields of the JSON object event and reports a disagreement.
func checkBoth(t *testing.T, s *Schema, event []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return
	}
	got := s.CheckFields(FieldsFromMap(nil, m))
	for _, v := range m {
		var d decimal
		if n, ok := v.(json.Number); ok && parseDecimal(string(n), &d) && (d.exp > 5000 || d.exp < -5000) {
			// The library's big.Rat would build a power of ten of that
			// size (Check refuses it in linear time).
			return
		}
	}
	want := s.referenceCheck(m)
	if !sameAnswer(got, want) {
		t.Fatalf("%s v%d, fields %s:\n compiled  %v\n reference %v", s.Name, s.Version, event, got, want)
	}
	if got == nil && len(refusing(Lint(s.Document))) == 0 {
		// The split of an accepted event: every field lands in its role.
		dims, measures, rej := s.CheckSplit(FieldsFromMap(nil, m))
		if rej != nil || len(dims)+len(measures) != len(m) {
			t.Fatalf("%s: split of %s: %v %v %v", s.Name, event, dims, measures, rej)
		}
	}
}

// sameAnswer compares accepted vs rejected, the reason and the field.
func sameAnswer(a, b *Rejection) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Reason == b.Reason && a.Field == b.Field
}

func compileDiffSchemas(t testing.TB) []*Schema {
	t.Helper()
	out := make([]*Schema, len(diffSchemas))
	for i, doc := range diffSchemas {
		s, _, err := CompileLenient([]byte(doc))
		if err != nil {
			t.Fatalf("schema %d: %v", i, err)
		}
		if s.check == nil {
			t.Fatalf("schema %d: the compiler refused it", i)
		}
		out[i] = s
	}
	return out
}

// TestCheckerDifferential tries every value in every property of every
// diff schema, alone and beside a valid base event, and a few pairs.
func TestCheckerDifferential(t *testing.T) {
	base := []string{
		`"os":"ios"`,
		`"ratio":0.5,"level":2`,
		`"kind":"a","tag":"red"`,
		``,
	}
	for si, s := range compileDiffSchemas(t) {
		var names []string
		for _, p := range s.check.props {
			names = append(names, p.name)
		}
		names = append(names, diffNames...)
		for _, name := range names {
			for _, v := range diffValues {
				q, _ := json.Marshal(name)
				member := string(q) + ":" + v
				checkBoth(t, s, []byte("{"+member+"}"))
				if base[si] != "" && !strings.Contains(base[si], string(q)+":") {
					checkBoth(t, s, []byte("{"+base[si]+","+member+"}"))
				}
			}
		}
		// Pairs: two bad fields, which one is named.
		for _, a := range names {
			for _, b := range names {
				if a >= b {
					continue
				}
				for _, va := range []string{`"jane@example.com"`, `null`, `1e400`, `"a\u0001"`, `0.5`} {
					for _, vb := range []string{`"x"`, `true`, `-1`, `3232235853`} {
						checkBoth(t, s, fmt.Appendf(nil, `{%q:%s,%q:%s}`, a, va, b, vb))
					}
				}
			}
		}
	}
}

// FuzzCheckerDifferential feeds the same fields to the compiled checker
// and to the reference — the JSON Schema library plus the identifier
// detectors — and fails on any disagreement in accepted vs rejected, the
// reason code or the field named.
func FuzzCheckerDifferential(f *testing.F) {
	for i := range diffSchemas {
		for _, v := range diffValues[:40] {
			f.Add(uint8(i), `{"os":"ios","ratio":`+v+`,"tag":"red","kind":"a","level":2}`)
		}
	}
	f.Add(uint8(0), `{"os":"ios","app_version":"12.4","locale":"de-DE","cold_start_ms":420,"warm":false,"screens":3}`)
	f.Add(uint8(1), `{"ratio":0.35,"level":-4,"big":1e299,"wide":-9223372036854775808,"fine":0.0012345,"code":2,"fixed":"v1","both":3}`)
	f.Add(uint8(2), `{"kind":"é","tag":"blue","word":"éa","flag":true,"ms":99999999999}`)
	f.Add(uint8(3), `{"n":-1.5e10,"i":1e3,"s":"xab","u":0.0,"any":"é"}`)
	schemas := compileDiffSchemas(f)
	f.Fuzz(func(t *testing.T, which uint8, event string) {
		checkBoth(t, schemas[int(which)%len(schemas)], []byte(event))
	})
}
