package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestAuditSDKExitStatus: 0 for a published build, 1 for other bytes, 2
// when the file cannot be fetched.
func TestAuditSDKExitStatus(t *testing.T) {
	real, err := os.ReadFile("../../sdk/js/dist/veil-xwing.js")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/veil-xwing.js":
			w.Write(real)
		case "/other.js":
			w.Write([]byte("export const x = 1;\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path, want string
		code       int
	}{
		{"/veil-xwing.js", "dist/veil-xwing.js", 0},
		{"/other.js", "NO MATCH", 1},
		{"/gone.js", "", 2},
	} {
		out, errOut, code := runVeil(t, "", "audit-sdk", srv.URL+c.path)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("audit-sdk %s: exit %d, want %d; stdout %q stderr %q", c.path, code, c.code, out, errOut)
		}
	}
}
