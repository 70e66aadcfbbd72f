package admin

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// exactSchema is the example schema with a maximum no float64 denotes.
func exactSchema(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/app.launch.json")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), `"maximum": 600000`, `"maximum": 9999999999999999999`, 1)
	if doc == string(b) {
		t.Fatal("example schema has no maximum to replace")
	}
	return doc
}

// TestRegisterSchemaKeepsExactNumbers (issue 14 §5): a document posted
// over REST, wrapped or bare, is stored with the numbers that were sent,
// not the float64 they pass through in google.protobuf.Struct
// (9999999999999999999 was stored as 10000000000000000000).
func TestRegisterSchemaKeepsExactNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(doc string) string
	}{
		{"wrapped", func(doc string) string { return `{"document": ` + doc + `}` }},
		{"bare", func(doc string) string { return doc }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if r := h.do(t, "POST", "/v1/schemas", testToken, tc.body(exactSchema(t))); r.status != 200 {
				t.Fatalf("register: %d %s", r.status, r.body)
			}
			rec, err := h.db.GetSchema(context.Background(), "app.launch", 1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(rec.Document, []byte(`"maximum":9999999999999999999`)) {
				t.Errorf("stored document lost the maximum that was sent:\n%s", rec.Document)
			}
			// The same document again is recognised as the same.
			r := h.do(t, "POST", "/v1/schemas", testToken, tc.body(exactSchema(t)))
			if r.status != 200 || !strings.Contains(string(r.body), `"created":false`) {
				t.Errorf("re-register: %d %s", r.status, r.body)
			}
		})
	}
}

// TestExactDocumentMatchesStructForm: a document whose numbers are all
// float64 is stored as the gRPC (Struct) path stores it, so registering
// it over either API is a no-op the second time; numbers beyond float64
// range are refused as before.
func TestExactDocumentMatchesStructForm(t *testing.T) {
	raw := `{"b": [1, 1.0, 1e3, 0.5, -0, 2.50], "a": {"x": 600000, "y": 9007199254740993}}`
	got, err := exactDocument([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"a":{"x":600000,"y":9007199254740993},"b":[1,1,1000,0.5,-0,2.5]}` // -0 as the Struct path writes it
	if string(got) != want {
		t.Errorf("canonical form\n got %s\nwant %s", got, want)
	}
	for _, bad := range []string{`{"m": 1e999}`, `[1]`, `{"a":1} {}`, `{"m": 1e99999999999}`} {
		if _, err := exactDocument([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
