package validate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/internal/schema"
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

// run calls Run with stdin and returns stdout, stderr and the exit status
// veil validate maps its answer to: 2 on an error, 1 when an event was
// rejected, else 0.
func run(t *testing.T, stdin string, o Options) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.Stdin, o.Stdout, o.Stderr = strings.NewReader(stdin), &out, &errOut
	rejected, err := Run(o)
	switch {
	case err != nil:
		if !strings.HasPrefix(err.Error(), "validate: ") {
			t.Errorf("error %q does not start with validate: ", err)
		}
		return out.String(), errOut.String(), 2
	case rejected > 0:
		return out.String(), errOut.String(), 1
	}
	return out.String(), errOut.String(), 0
}

func TestRun(t *testing.T) {
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
	out, _, code := run(t, "", Options{SchemaFile: schemaPath, EventsFile: eventsPath})
	if out != want || code != 1 {
		t.Errorf("file: code %d, output:\n%s\nwant:\n%s", code, out, want)
	}
	// From stdin, both spellings.
	for _, name := range []string{"-", ""} {
		out, _, code = run(t, events, Options{SchemaFile: schemaPath, EventsFile: name})
		if out != want || code != 1 {
			t.Errorf("events %q: code %d, output:\n%s", name, code, out)
		}
	}
	if strings.Contains(out, "a.b@example.com") {
		t.Error("output reveals a rejected value")
	}
}

func TestRunAllAccepted(t *testing.T) {
	schemaPath := writeFile(t, "s.json", testSchema)
	out, _, code := run(t, `{"schema":"app.launch","version":1,"fields":{"os":"android"}}`+"\n", Options{SchemaFile: schemaPath})
	if code != 0 || out != `{"index":0,"status":"accepted"}`+"\n" {
		t.Errorf("code %d, output %q", code, out)
	}
	out, _, code = run(t, "", Options{SchemaFile: schemaPath})
	if code != 0 || out != "" {
		t.Errorf("empty input: code %d, output %q", code, out)
	}
}

func TestRunErrors(t *testing.T) {
	good := writeFile(t, "s.json", testSchema)
	bad := writeFile(t, "bad.json", strings.Replace(testSchema, `"note"`, `"email"`, 1))
	tests := []struct {
		name string
		o    Options
		errs string
	}{
		{"no schema flag", Options{}, ""},
		{"missing schema file", Options{SchemaFile: filepath.Join(t.TempDir(), "nope.json")}, ""},
		{"lint failure with --strict", Options{Strict: true, SchemaFile: bad}, "identifying_name"},
		{"cannot compile", Options{SchemaFile: writeFile(t, "nc.json", `{"x-veil":{"name":"a","version":1},"properties":{"a":{"pattern":"("}}}`)}, "json_schema"},
		{"missing events file", Options{SchemaFile: good, EventsFile: filepath.Join(t.TempDir(), "nope.jsonl")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, "", tc.o)
			if code != 2 {
				t.Errorf("code %d, want 2", code)
			}
			if !strings.Contains(errOut, tc.errs) {
				t.Errorf("stderr %q lacks %q", errOut, tc.errs)
			}
		})
	}
}

func TestRunLongLine(t *testing.T) {
	schemaPath := writeFile(t, "s.json", testSchema)
	_, _, code := run(t, strings.Repeat("x", MaxEventLine+1), Options{SchemaFile: schemaPath})
	if code != 2 {
		t.Errorf("code %d, want 2", code)
	}
	s, _, err := schema.CompileLenient([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lines(s, strings.NewReader("\n"+strings.Repeat("x", MaxEventLine+1)), &bytes.Buffer{})
	var le *LineTooLongError
	if !errors.As(err, &le) || le.Index != 0 {
		t.Errorf("Lines: error %v, want a *LineTooLongError for event 0", err)
	}
}

// TestRunRefusedSchema: a schema lint refuses is still used to check
// events; its findings go to standard error as warnings, and the exit
// status is the events' (0 all accepted, 1 some rejected).
func TestRunRefusedSchema(t *testing.T) {
	draft := writeFile(t, "draft.json", strings.Replace(testSchema, `"pattern": "^[a-z_]*$"`, `"pattern": "^.*$"`, 1))
	out, errOut, code := run(t, `{"schema":"app.launch","version":1,"fields":{"os":"ios","note":"free text here"}}`+"\n",
		Options{SchemaFile: draft})
	if code != 0 || out != `{"index":0,"status":"accepted"}`+"\n" {
		t.Errorf("code %d, output %q", code, out)
	}
	if !strings.Contains(errOut, "note\tpattern_identifier\twarning: ") || !strings.Contains(errOut, "registration would refuse") {
		t.Errorf("stderr %q", errOut)
	}
	out, _, code = run(t, `{"schema":"app.launch","version":1,"fields":{"os":"ios","note":"mail jane@example.com"}}`+"\n",
		Options{SchemaFile: draft})
	if code != 1 || !strings.Contains(out, `"reason":"identifier_email"`) {
		t.Errorf("code %d, output %q", code, out)
	}
	_, errOut, code = run(t, "", Options{Strict: true, SchemaFile: draft})
	if code != 2 || !strings.Contains(errOut, "pattern_identifier") {
		t.Errorf("--strict: code %d, stderr %q", code, errOut)
	}
	// A warning alone is not fatal, even with --strict.
	versioned := writeFile(t, "v.json", strings.Replace(testSchema, `"pattern": "^[a-z_]*$"`, `"pattern": "^[0-9.]+$"`, 1))
	_, errOut, code = run(t, "", Options{Strict: true, SchemaFile: versioned})
	if code != 0 || !strings.Contains(errOut, "pattern_ipv4") {
		t.Errorf("warning with --strict: code %d, stderr %q", code, errOut)
	}
}
