package admincli

import (
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
