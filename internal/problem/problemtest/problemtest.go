// Package problemtest checks, in tests, that an HTTP answer is an RFC 9457
// problem document as package problem writes them.
package problemtest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/veil-telemetry/veil/internal/problem"
)

// Decode fails the test unless the answer with this status, header and
// body is a problem: Content-Type application/problem+json, a JSON
// document, and a status member equal to the HTTP status. It returns the
// document.
func Decode(t testing.TB, status int, header http.Header, body []byte) problem.Details {
	t.Helper()
	if ct := header.Get("Content-Type"); ct != problem.MediaType {
		t.Fatalf("Content-Type %q: %s", ct, body)
	}
	var p problem.Details
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem %q: %v", body, err)
	}
	if p.Status != status {
		t.Errorf("problem status %d, HTTP status %d", p.Status, status)
	}
	return p
}
