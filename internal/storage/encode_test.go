package storage

import (
	"encoding/json"
	"testing"
)

// FuzzAppendJSONString checks the writer's JSON string encoder against
// encoding/json: the output is valid JSON and decodes to what
// encoding/json's encoding of the same string decodes to (invalid UTF-8
// replaced by U+FFFD the same way).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "ios", "q\"\\\n\tü✓", "\x00\x1f\x7f", "a\xffb\xc3", "\u2028<&>", "é\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString([]byte("x"), s)
		if got[0] != 'x' || !json.Valid(got[1:]) {
			t.Fatalf("invalid JSON %q for %q", got, s)
		}
		ref, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var a, b string
		if err := json.Unmarshal(got[1:], &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ref, &b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Fatalf("%q decodes to %q, encoding/json's to %q", s, a, b)
		}
	})
}
