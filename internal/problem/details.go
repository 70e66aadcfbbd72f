package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// MediaType is the media type of every problem document (RFC 9457 §3).
const MediaType = "application/problem+json"

// TypeBlank is the problem type of a problem that means no more than its
// HTTP status (RFC 9457 §4.2.1).
const TypeBlank = "about:blank"

// Details is an RFC 9457 problem details object. Findings is an extension
// member (§3.2).
type Details struct {
	Type     string    `json:"type"`
	Title    string    `json:"title"`
	Status   int       `json:"status"`
	Detail   string    `json:"detail,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
}

// Status is the problem that means no more than the HTTP status code:
// type about:blank, titled with the status's phrase.
func Status(code int) Details {
	return Details{Type: TypeBlank, Title: http.StatusText(code), Status: code}
}

// Details is e as a problem: type, title and status from its kind, the
// client message as detail when it says more than the title, and findings
// on 4xx only.
func (e *Error) Details() Details {
	d := Details{Type: e.Kind.Type(), Title: e.Kind.Title(), Status: e.Kind.HTTPStatus()}
	if m := e.ClientMessage(); m != d.Title {
		d.Detail = m
	}
	if d.Status < 500 {
		d.Findings = e.Findings
	}
	return d
}

// Marshal returns d as JSON, members in the order of RFC 9457 §3.1.
func (d Details) Marshal() []byte {
	b, err := json.Marshal(d)
	if err != nil {
		// Unreachable: Details holds strings and an int.
		return []byte(`{"type":"about:blank","status":500}`)
	}
	return b
}

// Write answers with d: its status, Content-Type application/problem+json,
// no caching (no cache, a relay's or a CDN's, may keep an error past its
// cause) and no sniffing. Headers already set on w, such as Retry-After
// or WWW-Authenticate, are kept.
func Write(w http.ResponseWriter, d Details) {
	body := d.Marshal()
	h := w.Header()
	// grpc-gateway may have announced trailers before the error.
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h.Set("Content-Type", MediaType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(d.Status)
	_, _ = w.Write(body)
}

// WriteError answers with e's problem (see Error.Details). A 503 carries
// Retry-After: e.RetryAfter, or one second.
func WriteError(w http.ResponseWriter, e *Error) {
	d := e.Details()
	if d.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(e.RetryAfter), 10))
	}
	Write(w, d)
}
