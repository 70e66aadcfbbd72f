package problem

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestKindTableIsComplete: every kind has a row with a unique name, a
// title and a status, its type ends in its name and parses back.
func TestKindTableIsComplete(t *testing.T) {
	seen := map[string]bool{}
	all := Kinds()
	if len(all) != int(numKinds) || all[0] != Internal {
		t.Fatalf("Kinds() = %v", all)
	}
	for _, k := range all {
		info := k.info()
		if info.name == "" || info.title == "" || info.status == 0 {
			t.Errorf("kind %d has an incomplete row", k)
		}
		if seen[info.name] {
			t.Errorf("kind name %q used twice", info.name)
		}
		seen[info.name] = true
		if k.Type() != TypePrefix+k.String() {
			t.Errorf("kind %v: type %q", k, k.Type())
		}
		if back, ok := ParseKind(k.String()); !ok || back != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), back, ok)
		}
	}
	if Kind(99).String() != "internal" || Kind(-1).HTTPStatus() != 500 {
		t.Error("out-of-range kind does not fall back to internal")
	}
	if _, ok := ParseKind("batch_too_large"); ok {
		t.Error("ParseKind accepted a reason that names no kind")
	}
}

// TestStatuses pins the status of every kind: they are the wire contract.
func TestStatuses(t *testing.T) {
	want := map[Kind]int{
		Internal: 500, Invalid: 400, TooLarge: 413, NotFound: 404, Conflict: 409,
		Unauthenticated: 401, Forbidden: 403, Unavailable: 503, Overloaded: 503,
		Timeout: 504, Canceled: 499,
	}
	if len(want) != int(numKinds) {
		t.Fatalf("%d kinds pinned, %d exist", len(want), numKinds)
	}
	for k, st := range want {
		if k.HTTPStatus() != st {
			t.Errorf("%v: status %d, want %d", k, k.HTTPStatus(), st)
		}
	}
}

func TestErrorDetails(t *testing.T) {
	secret := "pq: password=hunter2"
	findings := []Finding{{Property: "email", Rule: "identifying_name", Message: "looks identifying"}}
	for _, c := range []struct {
		name string
		e    *Error
		want string
	}{
		{"4xx with detail and findings", &Error{Kind: Invalid, Message: "schema refused", Findings: findings},
			`{"type":"urn:veil:problem:invalid","title":"Invalid request","status":400,"detail":"schema refused","findings":[{"property":"email","rule":"identifying_name","message":"looks identifying"}]}`},
		{"4xx without message", &Error{Kind: NotFound},
			`{"type":"urn:veil:problem:not_found","title":"Not found","status":404}`},
		{"5xx hides message, cause and findings", &Error{Kind: Internal, Message: secret, Findings: findings, Err: errors.New(secret)},
			`{"type":"urn:veil:problem:internal","title":"Internal error","status":500}`},
		{"too large", Errorf(TooLarge, "batch_too_large: %d events, at most %d", 11, 10),
			`{"type":"urn:veil:problem:too_large","title":"Request too large","status":413,"detail":"batch_too_large: 11 events, at most 10"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := string(c.e.Details().Marshal()); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	for _, c := range []struct {
		e     *Error
		retry string
	}{
		{&Error{Kind: Unavailable}, "1"},
		{&Error{Kind: Overloaded, RetryAfter: 2500 * time.Millisecond}, "3"},
		{&Error{Kind: Invalid, RetryAfter: time.Second}, ""},
	} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Trailer", "Grpc-Status")
		WriteError(rec, c.e)
		h := rec.Header()
		if rec.Code != c.e.Kind.HTTPStatus() || h.Get("Retry-After") != c.retry {
			t.Errorf("%v: %d Retry-After %q, want %q", c.e.Kind, rec.Code, h.Get("Retry-After"), c.retry)
		}
		if h.Get("Content-Type") != MediaType || h.Get("Cache-Control") != "no-store" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Trailer") != "" ||
			h.Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
			t.Errorf("%v: headers %v", c.e.Kind, h)
		}
	}
}

// TestStatusProblem: a problem that means its status alone.
func TestStatusProblem(t *testing.T) {
	d := Status(http.StatusUnsupportedMediaType)
	d.Detail = "content type must be message/ohttp-req"
	const want = `{"type":"about:blank","title":"Unsupported Media Type","status":415,"detail":"content type must be message/ohttp-req"}`
	if got := string(d.Marshal()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, -time.Second: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 2 * time.Second: 2} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
