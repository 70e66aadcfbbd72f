package e2etest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
)

// FetchKeys gets the key configurations at base+"/ohttp-keys" (veil serve's
// public listener or veil relay). An answer that is not 200
// application/ohttp-keys with at least one usable key fails the test.
func FetchKeys(t testing.TB, hc *http.Client, base string) []*ohttp.KeyConfig {
	t.Helper()
	r := Call(t, hc, http.MethodGet, base+"/ohttp-keys", "", "", nil)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != ohttp.KeysMediaType {
		t.Fatalf("keys from %s: %d %q", base, r.Status, r.Header.Get("Content-Type"))
	}
	cfgs, err := ohttp.ParseKeyConfigs(r.Body)
	if err != nil || len(cfgs) == 0 {
		t.Fatalf("keys from %s: %v (%d configs)", base, err, len(cfgs))
	}
	return cfgs
}

// Inner describes an inner request to the ingest API. Empty fields take
// the usual values: POST, collector.example, /v1/events, a Date of now.
// Its header fields are content-type (JSON), date, then Header.
type Inner struct {
	Method, Authority, Path string
	Date                    *time.Time // nil: now; zero: no date field
	Header                  []bhttp.Field
	Content                 []byte
}

// Request is the Binary HTTP request r describes.
func (r Inner) Request() *bhttp.Request {
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	if r.Path == "" {
		r.Path = "/v1/events"
	}
	if r.Authority == "" {
		r.Authority = "collector.example"
	}
	h := []bhttp.Field{{Name: "content-type", Value: "application/json"}}
	switch {
	case r.Date == nil:
		h = append(h, bhttp.Field{Name: "date", Value: time.Now().UTC().Format(http.TimeFormat)})
	case !r.Date.IsZero():
		h = append(h, bhttp.Field{Name: "date", Value: r.Date.UTC().Format(http.TimeFormat)})
	}
	h = append(h, r.Header...)
	return &bhttp.Request{Method: r.Method, Scheme: "https", Authority: r.Authority, Path: r.Path, Header: h, Content: r.Content}
}

// Marshal encodes the request as Binary HTTP.
func (r Inner) Marshal(t testing.TB) []byte {
	t.Helper()
	b, err := r.Request().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Sealed is an encapsulated request and the context to open its answer.
type Sealed struct {
	Body    []byte
	Context *ohttp.ClientContext
}

// Seal encapsulates the Binary HTTP message inner to cfg with the default
// suite.
func Seal(t testing.TB, cfg *ohttp.KeyConfig, inner []byte) Sealed {
	t.Helper()
	enc, cctx, err := ohttp.EncapsulateRequest(rand.Reader, cfg, ohttp.DefaultSuite, inner)
	if err != nil {
		t.Fatal(err)
	}
	return Sealed{enc, cctx}
}

// Open decapsulates and decodes the inner response of an outer answer,
// which must be 200 message/ohttp-res.
func (s Sealed) Open(t testing.TB, r Reply) *bhttp.Response {
	t.Helper()
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != ohttp.ResponseMediaType {
		t.Fatalf("outer answer %d %q: %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	plain, err := s.Context.DecapsulateResponse(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := bhttp.UnmarshalResponse(plain)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// NewBatchID is a fresh random batch_id (16 bytes, base64url).
func NewBatchID() string {
	var id [16]byte
	rand.Read(id[:])
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// Event is one event in a batch of POST /v1/events.
type Event struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// Batch encodes a body of POST /v1/events (the inner request's content).
func Batch(t testing.TB, id string, evs []Event) []byte {
	t.Helper()
	b, err := json.Marshal(struct {
		BatchID string  `json:"batch_id"`
		Events  []Event `json:"events"`
	}{id, evs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// EventResult is one event's result in an answer of POST /v1/events.
type EventResult struct {
	Index  int    `json:"index"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Field  string `json:"field"`
}

// ParseResults parses the body of a 200 answer of POST /v1/events.
func ParseResults(b []byte) ([]EventResult, error) {
	var out struct{ Results []EventResult }
	err := json.Unmarshal(b, &out)
	return out.Results, err
}

// Results is ParseResults of an inner response, which must be 200.
func Results(t testing.TB, resp *bhttp.Response) []EventResult {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("inner status %d: %s", resp.StatusCode, resp.Content)
	}
	rs, err := ParseResults(resp.Content)
	if err != nil {
		t.Fatalf("%v: %s", err, resp.Content)
	}
	return rs
}
