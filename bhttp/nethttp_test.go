package bhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestHTTPRequest(t *testing.T) {
	r := &Request{
		Method: "POST", Scheme: "https", Authority: "collector.example:8443",
		Path:    "/v1/events?lang=en&lang=mi&empty=",
		Header:  fields("content-type", "application/json", "accept", "a/b", "accept", "c/d", "host", "ignored.example"),
		Content: []byte("{}"),
		Trailer: fields("digest", "x"),
	}
	req, err := r.HTTPRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.URL.Path != "/v1/events" || req.URL.RawQuery != "lang=en&lang=mi&empty=" ||
		req.URL.Scheme != "https" || req.URL.Host != "collector.example:8443" || req.Host != "collector.example:8443" ||
		req.RequestURI != r.Path {
		t.Fatalf("request line: %s %s host=%s uri=%s", req.Method, req.URL, req.Host, req.RequestURI)
	}
	if got := req.URL.Query()["lang"]; !reflect.DeepEqual(got, []string{"en", "mi"}) {
		t.Errorf("query lang = %q", got)
	}
	if got := req.Header.Values("Accept"); !reflect.DeepEqual(got, []string{"a/b", "c/d"}) {
		t.Errorf("Accept = %q", got)
	}
	if req.Header.Get("Content-Type") != "application/json" || req.Header.Get("Host") != "" {
		t.Errorf("header = %v", req.Header)
	}
	body, _ := io.ReadAll(req.Body)
	if string(body) != "{}" || req.ContentLength != 2 || req.Trailer.Get("Digest") != "x" {
		t.Errorf("body %q len %d trailer %v", body, req.ContentLength, req.Trailer)
	}

	// Without an authority, the host field names the target (RFC 9292 §5 example).
	req, err = helloRequest.HTTPRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "www.example.com" || req.URL.Host != "" || req.URL.Path != "/hello.txt" || req.Body != http.NoBody {
		t.Errorf("host %q url %v", req.Host, req.URL)
	}
	rec := httptest.NewRecorder()
	http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host+" "+r.URL.Path+" "+r.Header.Get("Accept-Language"))
	}).ServeHTTP(rec, req)
	if rec.Body.String() != "www.example.com /hello.txt en, mi" {
		t.Errorf("handler saw %q", rec.Body)
	}

	if _, err := (&Request{Method: "GET", Scheme: "https", Path: "/\n"}).HTTPRequest(context.Background()); !errors.Is(err, ErrInvalidControlData) {
		t.Errorf("bad path: %v", err)
	}
	for _, r := range []*Request{
		{Method: "OPTIONS", Scheme: "https", Authority: "a.example", Path: "*"},
		{Method: "CONNECT", Authority: "a.example:443"},
		{Method: "GET", Scheme: "https", Path: "//not-a-host/x"},
	} {
		req, err := r.HTTPRequest(context.Background())
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if req.Host != r.Authority || req.URL.Path != r.Path {
			t.Errorf("%+v: host %q path %q", r, req.Host, req.URL.Path)
		}
	}

	var nilCtx context.Context
	if _, err := helloRequest.HTTPRequest(nilCtx); err == nil {
		t.Error("nil context accepted")
	}
}

func TestRequestFromHTTP(t *testing.T) {
	req := httptest.NewRequest("POST", "https://collector.example/v1/events?a=1&a=2", strings.NewReader("payload"))
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "close")
	req.Header.Set("X-Padded", "  v  ")
	r, err := RequestFromHTTP(req, 100)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "POST" || r.Scheme != "https" || r.Authority != "collector.example" || r.Path != "/v1/events?a=1&a=2" {
		t.Fatalf("control data %+v", r)
	}
	want := fields("Content-Type", "application/json", "X-Multi", "one", "X-Multi", "two", "X-Padded", "v")
	if !reflect.DeepEqual(r.Header, want) || string(r.Content) != "payload" {
		t.Fatalf("header %v content %q", r.Header, r.Content)
	}
	// Through the wire and back.
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalRequest(b)
	if err != nil || !requestsEqual(got, r) {
		t.Fatalf("round trip %+v, %v", got, err)
	}
	back, err := got.HTTPRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if back.URL.RawQuery != "a=1&a=2" || !reflect.DeepEqual(back.Header.Values("X-Multi"), []string{"one", "two"}) ||
		back.Host != "collector.example" || back.Header.Get("Connection") != "" {
		t.Fatalf("back: %v %v", back.URL, back.Header)
	}

	// A server-side request: scheme from TLS, authority from Host.
	srv := httptest.NewRequest("GET", "/p?q", nil)
	srv.Host = "h.example"
	srv.TLS = &tls.ConnectionState{}
	r, err = RequestFromHTTP(srv, 0)
	if err != nil || r.Scheme != "https" || r.Authority != "h.example" || r.Path != "/p?q" || r.Content != nil {
		t.Fatalf("%+v, %v", r, err)
	}

	big := httptest.NewRequest("POST", "http://a/", strings.NewReader(strings.Repeat("x", 11)))
	if _, err := RequestFromHTTP(big, 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized body: %v", err)
	}
}

func TestResponseHTTP(t *testing.T) {
	r := &Response{
		StatusCode: 201,
		Header:     fields("content-type", "text/plain", "set-cookie", "a=1", "set-cookie", "b=2"),
		Content:    []byte("made"),
		Trailer:    fields("checksum", "x"),
	}
	hr := r.HTTPResponse()
	body, _ := io.ReadAll(hr.Body)
	if hr.StatusCode != 201 || hr.Status != "201 Created" || string(body) != "made" ||
		!reflect.DeepEqual(hr.Header.Values("Set-Cookie"), []string{"a=1", "b=2"}) || hr.Trailer.Get("Checksum") != "x" {
		t.Fatalf("%+v", hr)
	}
	hr.Body = io.NopCloser(strings.NewReader("made"))
	back, err := ResponseFromHTTP(hr, 0)
	if err != nil || !responsesEqual(back, r) {
		t.Fatalf("%+v, %v", back, err)
	}
	hr.StatusCode = 99
	if _, err := ResponseFromHTTP(hr, 0); !errors.Is(err, ErrInvalidStatus) {
		t.Fatalf("status 99: %v", err)
	}
}

func TestResponseWriter(t *testing.T) {
	w := NewResponseWriter()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Vary", "A")
		w.Header().Add("Vary", "B")
		w.Header().Set("Trailer", "Digest")
		w.WriteHeader(http.StatusAccepted)
		w.Header().Set("X-Late", "ignored")
		io.WriteString(w, `{"ok":`)
		w.Write([]byte(`true}`))
		w.Header().Set("Digest", "d1")
		w.Header().Set(http.TrailerPrefix+"Extra", "e1")
		w.WriteHeader(500) // ignored
	})
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	r := w.Response()
	want := &Response{
		Informational: []InformationalResponse{{103, fields("link", "</a.css>; rel=preload")}},
		StatusCode:    202,
		Header:        fields("content-type", "application/json", "trailer", "Digest", "vary", "A", "vary", "B"),
		Content:       []byte(`{"ok":true}`),
		Trailer:       fields("digest", "d1", "extra", "e1"),
	}
	if !responsesEqual(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnmarshalResponse(b); err != nil || !responsesEqual(got, want) {
		t.Fatalf("%+v, %v", got, err)
	}

	// Nothing written: an empty 200.
	w = NewResponseWriter()
	if r := w.Response(); r.StatusCode != 200 || r.Header != nil || r.Content != nil {
		t.Fatalf("%+v", r)
	}
	// An invalid status is recorded and refused at Marshal, not a panic.
	w = NewResponseWriter()
	w.WriteHeader(99)
	if _, err := w.Response().Marshal(); !errors.Is(err, ErrInvalidStatus) {
		t.Fatalf("status 99: %v", err)
	}
	// An invalid header value is refused at Marshal.
	w = NewResponseWriter()
	w.Header().Set("X", "a\x00b")
	w.WriteHeader(200)
	if _, err := w.Response().Marshal(); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("NUL value: %v", err)
	}
	// Too many informational responses are refused at Marshal.
	w = NewResponseWriter()
	for range MaxInformationalResponses + 1 {
		w.WriteHeader(http.StatusProcessing)
	}
	if _, err := w.Response().Marshal(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too many 1xx: %v", err)
	}
	var _ http.Flusher = w
	var _ io.StringWriter = w
}
