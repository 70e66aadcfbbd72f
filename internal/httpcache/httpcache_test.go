package httpcache

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNoneMatch(t *testing.T) {
	const etag = `"abc"`
	for header, want := range map[string]bool{
		"":                false,
		`"abc"`:           true,
		`W/"abc"`:         true,
		`"x", "abc"`:      true,
		` "x" ,W/"abc" `:  true,
		"*":               true,
		`"abcd"`:          false,
		`abc`:             false,
		`"x", "y"`:        false,
		`W/"x", W/"abc "`: false,
	} {
		if got := NoneMatch(header, etag); got != want {
			t.Errorf("NoneMatch(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestETag(t *testing.T) {
	a, b := ETag([]byte("keys")), ETag([]byte("keys!"))
	if a == b || a != ETag([]byte("keys")) || len(a) != 34 || a[0] != '"' || a[33] != '"' {
		t.Errorf("ETag: %s, %s", a, b)
	}
}

func TestServe(t *testing.T) {
	body := []byte("the document")
	etag := ETag(body)
	for _, c := range []struct {
		name, method, inm string
		maxAge            time.Duration
		status            int
		cc, content       string
	}{
		{"get", http.MethodGet, "", 90*time.Second + 900*time.Millisecond, 200, "public, max-age=90", "the document"},
		{"head", http.MethodHead, "", time.Minute, 200, "public, max-age=60", ""},
		{"not modified", http.MethodGet, etag, time.Minute, 304, "public, max-age=60", ""},
		{"past its age", http.MethodGet, `"other"`, -time.Second, 200, "public, max-age=0", "the document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/ohttp-keys", nil)
			if c.inm != "" {
				r.Header.Set("If-None-Match", c.inm)
			}
			rec := httptest.NewRecorder()
			if got := Serve(rec, r, body, "application/ohttp-keys", etag, Public(c.maxAge)); got != c.status || rec.Code != c.status {
				t.Fatalf("status %d (returned %d), want %d", rec.Code, got, c.status)
			}
			h := rec.Header()
			if h.Get("Cache-Control") != c.cc || h.Get("ETag") != etag || rec.Body.String() != c.content {
				t.Errorf("Cache-Control %q ETag %q body %q", h.Get("Cache-Control"), h.Get("ETag"), rec.Body)
			}
			if c.status == 200 && (h.Get("Content-Type") != "application/ohttp-keys" || h.Get("Content-Length") != "12") {
				t.Errorf("Content-Type %q Content-Length %q", h.Get("Content-Type"), h.Get("Content-Length"))
			}
		})
	}
}
