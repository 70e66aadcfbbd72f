package admincli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaFileNumbersMustBeExact (issue 14 §5): veil admin schemas
// register sends over gRPC, where a document's numbers are float64; a
// file whose number would change on the way is refused with a message
// naming the number and the way out, instead of registering another
// schema than the file.
func TestSchemaFileNumbersMustBeExact(t *testing.T) {
	good := filepath.Join("testdata", "app.launch.json")
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readSchemaFile(good); err != nil {
		t.Fatalf("example schema: %v", err)
	}
	edited := strings.Replace(string(raw), `"maximum": 600000`, `"maximum": 9999999999999999999`, 1)
	if edited == string(raw) {
		t.Fatal("example schema has no maximum to replace")
	}
	bad := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(bad, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = readSchemaFile(bad)
	if !errors.Is(err, ErrInexactNumber) {
		t.Fatalf("inexact number: %v", err)
	}
	for _, want := range []string{bad, "9999999999999999999", "10000000000000000000", "REST"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}

func TestFloat64Exact(t *testing.T) {
	for _, tc := range []struct {
		n     string
		exact bool
	}{
		{"0", true}, {"600000", true}, {"1.5", true}, {"1e3", true}, {"9007199254740992", true},
		{"9007199254740993", false}, {"9999999999999999999", false}, {"0.1", false},
		{"1e999", false}, {"1e-999999999", false}, {"1e400", false},
	} {
		if _, got := float64Exact(json.Number(tc.n)); got != tc.exact {
			t.Errorf("%s: exact %v, want %v", tc.n, got, tc.exact)
		}
	}
}
