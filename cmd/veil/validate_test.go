package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "app.launch", "version": 1},
  "type": "object",
  "additionalProperties": false,
  "required": ["os"],
  "properties": {
    "os":            {"enum": ["android", "ios"], "x-veil-role": "dimension"},
    "note":          {"type": "string", "pattern": "^[a-z_]*$", "maxLength": 64, "x-veil-role": "dimension"},
    "cold_start_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure"}
  }
}`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runVeil runs the root command in process and returns stdout, stderr and
// the exit code main would use.
func runVeil(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	code := 0
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else {
			code = 2
		}
	}
	return out.String(), errOut.String(), code
}

// The validate tests here check the wiring of flags, arguments, standard
// streams and exit statuses; internal/validate tests the checking itself.

func TestValidateCommand(t *testing.T) {
	schemaPath := writeFile(t, "s.json", testSchema)
	events := strings.Join([]string{
		`{"schema":"app.launch","version":1,"fields":{"os":"ios","cold_start_ms":420}}`,
		`{"schema":"app.launch","version":1,"fields":{"os":"ios","note":"mail a.b@example.com"}}`,
		``,
		`{"schema":"app.launch","version":2,"fields":{"os":"ios"}}`,
		`{"schema":"app.launch","version":1,"fields":{"os":"ios","cold_start_ms":1.5}}`,
		`{"schema":"app.launch","version":1,"fields":{"os":"ios","extra":1}}`,
		`{"schema":"app.launch","version":1,"fields":{"cold_start_ms":1}}`,
		`{"schema":"app.launch","version":1,"fields":{"os":"bsd"}}`,
		`not json`,
		`{"schema":"app.launch","version":1}`,
		`{"schema":"other","version":1,"fields":{"os":"ios"}}`,
	}, "\n")
	want := strings.Join([]string{
		`{"index":0,"status":"accepted"}`,
		`{"index":1,"status":"rejected","reason":"identifier_email","field":"note","pointer":"/note"}`,
		`{"index":2,"status":"rejected","reason":"schema_unknown"}`,
		`{"index":3,"status":"rejected","reason":"field_type","field":"cold_start_ms","pointer":"/cold_start_ms"}`,
		`{"index":4,"status":"rejected","reason":"field_unknown","field":"extra","pointer":"/extra"}`,
		`{"index":5,"status":"rejected","reason":"field_missing","field":"os","pointer":"/os"}`,
		`{"index":6,"status":"rejected","reason":"field_out_of_range","field":"os","pointer":"/os"}`,
		`{"index":7,"status":"rejected","reason":"schema_invalid_event"}`,
		`{"index":8,"status":"rejected","reason":"schema_invalid_event","pointer":"/fields"}`,
		`{"index":9,"status":"rejected","reason":"schema_unknown"}`,
	}, "\n") + "\n"

	// From a file.
	eventsPath := writeFile(t, "e.jsonl", events)
	out, _, code := runVeil(t, "", "validate", "--schema", schemaPath, eventsPath)
	if out != want || code != 1 {
		t.Errorf("file: code %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	// From stdin, both spellings.
	for _, args := range [][]string{{"validate", "--schema", schemaPath, "-"}, {"validate", "--schema", schemaPath}} {
		out, _, code = runVeil(t, events, args...)
		if out != want || code != 1 {
			t.Errorf("%v: code %d, output:\n%s", args, code, out)
		}
	}
	if strings.Contains(out, "a.b@example.com") {
		t.Error("output reveals a rejected value")
	}
}

func TestValidateCommandAllAccepted(t *testing.T) {
	schemaPath := writeFile(t, "s.json", testSchema)
	out, _, code := runVeil(t, `{"schema":"app.launch","version":1,"fields":{"os":"android"}}`+"\n", "validate", "--schema", schemaPath)
	if code != 0 || out != `{"index":0,"status":"accepted"}`+"\n" {
		t.Errorf("code %d, output %q", code, out)
	}
	out, _, code = runVeil(t, "", "validate", "--schema", schemaPath)
	if code != 0 || out != "" {
		t.Errorf("empty input: code %d, output %q", code, out)
	}
}

func TestValidateCommandErrors(t *testing.T) {
	good := writeFile(t, "s.json", testSchema)
	bad := writeFile(t, "bad.json", strings.Replace(testSchema, `"note"`, `"email"`, 1))
	tests := []struct {
		name string
		args []string
		errs string
	}{
		{"no schema flag", []string{"validate"}, ""},
		{"lint failure with --strict", []string{"validate", "--strict", "--schema", bad}, "identifying_name"},
		{"missing events file", []string{"validate", "--schema", good, filepath.Join(t.TempDir(), "nope.jsonl")}, ""},
		{"two arguments", []string{"validate", "--schema", good, "a", "b"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runVeil(t, "", tc.args...)
			if code != 2 {
				t.Errorf("code %d, want 2", code)
			}
			if !strings.Contains(errOut, tc.errs) {
				t.Errorf("stderr %q lacks %q", errOut, tc.errs)
			}
		})
	}
}
