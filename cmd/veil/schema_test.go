package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSchemaLintCommand(t *testing.T) {
	good := writeFile(t, "good.json", testSchema)
	out, _, code := runVeil(t, "", "schema", "lint", good)
	// cold_start_ms's clamp defaults to 0..600000: a release_noise warning.
	if code != 0 || !strings.HasPrefix(out, "cold_start_ms\trelease_noise\twarning: ") || !strings.HasSuffix(out, "\n"+good+": schema app.launch version 1 passes every registration check\n") {
		t.Errorf("good schema: code %d, output %q", code, out)
	}

	bad := writeFile(t, "bad.json", `{
	  "x-veil": {"name": "signup", "version": 1},
	  "type": "object",
	  "additionalProperties": true,
	  "properties": {
	    "userEmail": {"type": "string", "x-veil-role": "dimension"},
	    "tags":      {"type": "array", "x-veil-role": "dimension"}
	  }
	}`)
	out, _, code = runVeil(t, "", "schema", "lint", bad)
	if code != 1 {
		t.Errorf("bad schema: code %d", code)
	}
	want := []string{
		"-\tadditional_properties\t",
		"tags\tarray\t",
		"userEmail\tidentifying_name\t",
		"userEmail\tunbounded_string\t",
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}

	notJSON := writeFile(t, "x.json", `{`)
	if out, _, code = runVeil(t, "", "schema", "lint", notJSON); code != 1 || !strings.Contains(out, "invalid_json") {
		t.Errorf("invalid JSON: code %d, output %q", code, out)
	}
	if _, _, code = runVeil(t, "", "schema", "lint", filepath.Join(t.TempDir(), "nope.json")); code != 2 {
		t.Errorf("missing file: code %d", code)
	}
	if _, _, code = runVeil(t, "", "schema", "lint"); code != 2 {
		t.Errorf("no argument: code %d", code)
	}
}

func TestSchemaLintCommandWarning(t *testing.T) {
	versioned := writeFile(t, "v.json", strings.Replace(testSchema, `"pattern": "^[a-z_]*$"`, `"pattern": "^[0-9.]+$"`, 1))
	out, _, code := runVeil(t, "", "schema", "lint", versioned)
	if code != 0 || !strings.HasPrefix(out, "note\tpattern_ipv4\twarning: ") {
		t.Errorf("code %d, output %q", code, out)
	}
}
