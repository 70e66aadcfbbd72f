package bhttp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// vectors reads testdata/vectors.txt.
func vectors(t testing.TB) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := make(map[string][]byte)
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, h, ok := strings.Cut(line, " ")
		b, err := hex.DecodeString(h)
		if !ok || err != nil {
			t.Fatalf("bad vector line %q", line)
		}
		m[name] = b
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func fields(kv ...string) []Field {
	var fs []Field
	for i := 0; i < len(kv); i += 2 {
		fs = append(fs, Field{kv[i], kv[i+1]})
	}
	return fs
}

func fieldsEqual(a, b []Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i].Name, b[i].Name) || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

func requestsEqual(a, b *Request) bool {
	return a.Method == b.Method && a.Scheme == b.Scheme && a.Authority == b.Authority &&
		a.Path == b.Path && fieldsEqual(a.Header, b.Header) &&
		bytes.Equal(a.Content, b.Content) && fieldsEqual(a.Trailer, b.Trailer)
}

func responsesEqual(a, b *Response) bool {
	if len(a.Informational) != len(b.Informational) {
		return false
	}
	for i := range a.Informational {
		if a.Informational[i].StatusCode != b.Informational[i].StatusCode ||
			!fieldsEqual(a.Informational[i].Header, b.Informational[i].Header) {
			return false
		}
	}
	return a.StatusCode == b.StatusCode && fieldsEqual(a.Header, b.Header) &&
		bytes.Equal(a.Content, b.Content) && fieldsEqual(a.Trailer, b.Trailer)
}

var helloRequest = &Request{
	Method: "GET", Scheme: "https", Path: "/hello.txt",
	Header: fields(
		"user-agent", "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3",
		"host", "www.example.com",
		"accept-language", "en, mi",
	),
}

func TestRequestVectors(t *testing.T) {
	v := vectors(t)
	tests := []struct {
		name string
		want *Request
		opts MarshalOptions
	}{
		{"rfc9292-request-known", helloRequest, MarshalOptions{}},
		{"rfc9292-request-indeterminate", helloRequest, MarshalOptions{Indeterminate: true, Padding: 10}},
		{"rfc9458-request", &Request{Method: "GET", Scheme: "https", Authority: "example.com", Path: "/"}, MarshalOptions{Truncate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := v[tt.name]
			got, err := UnmarshalRequest(b)
			if err != nil {
				t.Fatal(err)
			}
			if !requestsEqual(got, tt.want) {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
			enc, err := tt.opts.MarshalRequest(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Fatalf("re-encoded\n%x\nwant\n%x", enc, b)
			}
		})
	}
	// The known-length example is what Marshal sends.
	enc, err := helloRequest.Marshal()
	if err != nil || !bytes.Equal(enc, v["rfc9292-request-known"]) {
		t.Fatalf("Marshal = %x, %v", enc, err)
	}
}

// RFC 9292 §5: the last two bytes of the known-length example and up to 12
// bytes of the indeterminate one can be removed without changing meaning.
func TestRequestVectorTruncation(t *testing.T) {
	v := vectors(t)
	for name, max := range map[string]int{"rfc9292-request-known": 2, "rfc9292-request-indeterminate": 12} {
		b := v[name]
		for cut := 0; cut <= max; cut++ {
			got, err := UnmarshalRequest(b[:len(b)-cut])
			if err != nil || !requestsEqual(got, helloRequest) {
				t.Errorf("%s minus %d bytes: %+v, %v", name, cut, got, err)
			}
		}
		// One byte more cuts into a field line.
		if _, err := UnmarshalRequest(b[:len(b)-max-1]); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s minus %d bytes: err = %v, want ErrTruncated", name, max+1, err)
		}
	}
}

func TestResponseVectors(t *testing.T) {
	v := vectors(t)
	early := &Response{
		Informational: []InformationalResponse{
			{102, fields("running", `"sleep 15"`)},
			{103, fields(
				"link", "</style.css>; rel=preload; as=style",
				"link", "</script.js>; rel=preload; as=script",
			)},
		},
		StatusCode: 200,
		Header: fields(
			"date", "Mon, 27 Jul 2009 12:28:53 GMT",
			"server", "Apache",
			"last-modified", "Wed, 22 Jul 2009 19:15:56 GMT",
			"etag", `"34aa387-d-1568eb00"`,
			"accept-ranges", "bytes",
			"content-length", "51",
			"vary", "Accept-Encoding",
			"content-type", "text/plain",
		),
		Content: []byte("Hello World! My content includes a trailing CRLF.\r\n"),
	}
	chunked := &Response{
		StatusCode: 200,
		Content:    []byte("This content contains CRLF.\r\n"),
		Trailer:    fields("trailer", "text"),
	}
	tests := []struct {
		name string
		want *Response
		opts MarshalOptions
	}{
		{"rfc9292-response-indeterminate", early, MarshalOptions{Indeterminate: true}},
		{"rfc9292-response-known", chunked, MarshalOptions{}},
		{"rfc9458-response", &Response{StatusCode: 200}, MarshalOptions{Truncate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := v[tt.name]
			got, err := UnmarshalResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			if !responsesEqual(got, tt.want) {
				t.Fatalf("decoded %+v, want %+v", got, tt.want)
			}
			enc, err := tt.opts.MarshalResponse(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Fatalf("re-encoded\n%x\nwant\n%x", enc, b)
			}
			// Every other form decodes to the same response.
			for _, o := range allOptions {
				enc, err := o.MarshalResponse(got)
				if err != nil {
					t.Fatalf("%+v: %v", o, err)
				}
				again, err := UnmarshalResponse(enc)
				if err != nil || !responsesEqual(again, tt.want) {
					t.Fatalf("%+v: %+v, %v", o, again, err)
				}
			}
		})
	}
	// The known-length vector is what Marshal sends.
	enc, err := chunked.Marshal()
	if err != nil || !bytes.Equal(enc, v["rfc9292-response-known"]) {
		t.Fatalf("Marshal = %x, %v", enc, err)
	}
}

var allOptions = func() (o []MarshalOptions) {
	for _, ind := range []bool{false, true} {
		for _, tr := range []bool{false, true} {
			for _, pad := range []int{0, 1, 7} {
				o = append(o, MarshalOptions{Indeterminate: ind, Truncate: tr, Padding: pad})
			}
		}
	}
	return o
}()

func TestRequestRoundTrip(t *testing.T) {
	reqs := []*Request{
		{Method: "GET", Scheme: "https", Authority: "example.com", Path: "/"},
		{Method: "POST", Scheme: "https", Authority: "collector.example:8443", Path: "/v1/events?x=1&y=%20",
			Header:  fields("Content-Type", "application/json", "x-a", "1", "X-A", "2"),
			Content: []byte(`{"events":[]}`), Trailer: fields("digest", "sha-256=abc")},
		{Method: "OPTIONS", Scheme: "https", Authority: "[::1]:443", Path: "*"},
		{Method: "CONNECT", Authority: "example.com:443"},
		{Method: "PUT", Scheme: "http", Path: "/", Content: bytes.Repeat([]byte{0}, 70000)},
		{Method: "GET", Scheme: "https", Path: "/", Trailer: fields("t", "")},
	}
	for i, r := range reqs {
		for _, o := range allOptions {
			b, err := o.MarshalRequest(r)
			if err != nil {
				t.Fatalf("%d %+v: %v", i, o, err)
			}
			got, err := UnmarshalRequest(b)
			if err != nil {
				t.Fatalf("%d %+v: %v (%x)", i, o, err, b)
			}
			if !requestsEqual(got, r) {
				t.Fatalf("%d %+v: got %+v", i, o, got)
			}
			for _, f := range append(got.Header, got.Trailer...) {
				if strings.ToLower(f.Name) != f.Name {
					t.Fatalf("decoded name %q not lowercase", f.Name)
				}
			}
		}
	}
}

func TestAppendMarshal(t *testing.T) {
	r := benchRequest()
	want, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	got, err := r.AppendMarshal(append([]byte(nil), prefix...))
	if err != nil || !bytes.Equal(got, append(prefix, want...)) {
		t.Fatalf("AppendMarshal = %x, %v", got, err)
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf, _ = r.AppendMarshal(buf[:0]) }); n != 0 {
		t.Errorf("Request.AppendMarshal allocates %v times with room in dst", n)
	}
	resp := benchResponse()
	if n := testing.AllocsPerRun(100, func() { buf, _ = resp.AppendMarshal(buf[:0]) }); n != 0 {
		t.Errorf("Response.AppendMarshal allocates %v times with room in dst", n)
	}
	// On error dst comes back unchanged.
	bad := &Request{Method: "GET", Scheme: "https", Path: "/", Header: fields("x", "a\nb")}
	out, err := bad.AppendMarshal(prefix)
	if !errors.Is(err, ErrInvalidField) || !bytes.Equal(out, prefix) {
		t.Fatalf("AppendMarshal(bad) = %q, %v", out, err)
	}
}

// Decoding does not alias the input.
func TestUnmarshalCopies(t *testing.T) {
	b, err := benchRequest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, err := UnmarshalRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	want := *r
	wantContent := append([]byte(nil), r.Content...)
	for i := range b {
		b[i] = 'Z'
	}
	if r.Method != want.Method || r.Path != "/v1/events" || r.Header[0].Name != "content-type" ||
		!bytes.Equal(r.Content, wantContent) {
		t.Fatal("decoded request changed with its input")
	}
}

func TestMalformedRequests(t *testing.T) {
	tests := []struct {
		name, hex string
		err       error
	}{
		{"empty", "", ErrTruncated},
		{"response framing", "01", ErrInvalidFraming},
		{"framing 4", "04", ErrInvalidFraming},
		{"framing truncated varint", "40", ErrTruncated},
		{"no control data", "00", ErrTruncated},
		{"control data cut", "000347", ErrTruncated},
		{"method length past end", "0005474554", ErrTruncated},
		{"path missing", "000347455405687474707300", ErrTruncated},
		{"control too long", "00" + "8000" + "4001", ErrTooLarge},
		{"empty method", "000005687474707300012f", ErrInvalidControlData},
		{"method not token", "000247200568747470730001" + "2f", ErrInvalidControlData},
		{"path with CRLF", "0003474554056874747073000" + "32f0d0a", ErrInvalidControlData},
		{"path without slash", "0003474554056874747073000161", ErrInvalidControlData},
		{"empty https path", "000347455405687474707300" + "00", ErrInvalidControlData},
		{"authority userinfo", "0003474554056874747073" + "0361406200" + "012f", ErrInvalidControlData},
		{"scheme digit first", "000347455401310001" + "2f", ErrInvalidControlData},
		{"path with fragment", "00034745540568747470730002" + "2f23", ErrInvalidControlData},
		{"header length past end", "0003474554056874747073000" + "12f" + "05", ErrTruncated},
		{"header too large", "0003474554056874747073000" + "12f" + "80010001", ErrTooLarge},
		{"empty field name", "0003474554056874747073000" + "12f" + "020000", ErrInvalidField},
		{"field line past section", "0003474554056874747073000" + "12f" + "0201610161", ErrTruncated},
		{"uppercase field name", "0003474554056874747073000" + "12f" + "04014101" + "62", ErrInvalidField},
		{"field name with colon", "0003474554056874747073000" + "12f" + "05033a7061" + "0000", ErrInvalidField},
		{"field value with LF", "0003474554056874747073000" + "12f" + "050161" + "020a62", ErrInvalidField},
		{"field value with NUL", "0003474554056874747073000" + "12f" + "040161" + "0100", ErrInvalidField},
		{"field value leading space", "0003474554056874747073000" + "12f" + "050161" + "022062", ErrInvalidField},
		{"content past end", "0003474554056874747073000" + "12f" + "00" + "0561", ErrTruncated},
		{"content too large", "0003474554056874747073000" + "12f" + "00" + "c000000001000001", ErrTooLarge},
		{"trailer cut", "0003474554056874747073000" + "12f" + "00" + "00" + "03016101", ErrTruncated},
		{"non-zero padding", "0003474554056874747073000" + "12f" + "00" + "00" + "00" + "0000ff", ErrInvalidPadding},
		{"indeterminate header unterminated", "0203474554056874747073000" + "12f" + "01610162", ErrTruncated},
		{"indeterminate content unterminated", "0203474554056874747073000" + "12f" + "00" + "0161", ErrTruncated},
		{"indeterminate chunk past end", "0203474554056874747073000" + "12f" + "00" + "0561", ErrTruncated},
		{"indeterminate trailer unterminated", "0203474554056874747073000" + "12f" + "00" + "00" + "01610162", ErrTruncated},
		{"indeterminate non-zero padding", "0203474554056874747073000" + "12f" + "00000000" + "01", ErrInvalidPadding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			_, err = UnmarshalRequest(b)
			checkDecodeError(t, err, tt.err)
		})
	}
}

func TestMalformedResponses(t *testing.T) {
	tests := []struct {
		name, hex string
		err       error
	}{
		{"empty", "", ErrTruncated},
		{"request framing", "00", ErrInvalidFraming},
		{"no status", "01", ErrTruncated},
		{"status 0", "0100", ErrInvalidStatus},
		{"status 99", "014063", ErrInvalidStatus},
		{"status 600", "014258", ErrInvalidStatus},
		{"status huge", "01c000000100000000", ErrInvalidStatus},
		{"informational without final", "01406600", ErrTruncated},
		{"informational header cut", "014066", ErrTruncated},
		{"indeterminate informational unterminated", "03406601610162", ErrTruncated},
		{"informational then padding", "0340660000", ErrInvalidStatus},
		{"too many informational", "01" + strings.Repeat("406400", MaxInformationalResponses+1) + "40c8", ErrTooLarge},
		{"header past end", "0140c805", ErrTruncated},
		{"uppercase trailer name", "0140c8000004014101" + "62", ErrInvalidField},
		{"non-zero padding", "0140c800000000000001", ErrInvalidPadding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			_, err = UnmarshalResponse(b)
			checkDecodeError(t, err, tt.err)
		})
	}
}

func TestTooManyFields(t *testing.T) {
	line := []byte{1, 'a', 0}
	for _, ind := range []bool{false, true} {
		var b []byte
		if ind {
			b = append([]byte{3, 0x40, 0xc8}, bytes.Repeat(line, MaxFields+1)...)
			b = append(b, 0)
		} else {
			b = appendVarint([]byte{1, 0x40, 0xc8}, uint64(len(line)*(MaxFields+1)))
			b = append(b, bytes.Repeat(line, MaxFields+1)...)
		}
		_, err := UnmarshalResponse(b)
		checkDecodeError(t, err, ErrTooLarge)
		// Exactly MaxFields is fine.
		r := &Response{StatusCode: 200, Header: make([]Field, MaxFields)}
		for i := range r.Header {
			r.Header[i] = Field{"a", ""}
		}
		enc, err := MarshalOptions{Indeterminate: ind}.MarshalResponse(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalResponse(enc); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("v", MaxFieldSectionBytes)
	b := []byte{3, 0x40, 0xc8, 1, 'a'}
	b = appendVarint(b, uint64(len(big)))
	b = append(append(b, big...), 0)
	_, err := UnmarshalResponse(b)
	checkDecodeError(t, err, ErrTooLarge)
}

func checkDecodeError(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("err = %T, want *DecodeError", err)
	}
	if de.Section == "" || de.Offset < 0 {
		t.Fatalf("DecodeError without position: %+v", de)
	}
}

func TestMarshalErrors(t *testing.T) {
	ok := Request{Method: "GET", Scheme: "https", Path: "/"}
	with := func(f func(*Request)) *Request { r := ok; f(&r); return &r }
	tests := []struct {
		name string
		r    *Request
		err  error
	}{
		{"empty method", with(func(r *Request) { r.Method = "" }), ErrInvalidControlData},
		{"method with space", with(func(r *Request) { r.Method = "G T" }), ErrInvalidControlData},
		{"path with newline", with(func(r *Request) { r.Path = "/\n" }), ErrInvalidControlData},
		{"authority with slash", with(func(r *Request) { r.Authority = "a/b" }), ErrInvalidControlData},
		{"long path", with(func(r *Request) { r.Path = "/" + strings.Repeat("a", MaxControlBytes) }), ErrTooLarge},
		{"empty field name", with(func(r *Request) { r.Header = fields("", "v") }), ErrInvalidField},
		{"field name with space", with(func(r *Request) { r.Header = fields("a b", "v") }), ErrInvalidField},
		{"value with CR", with(func(r *Request) { r.Trailer = fields("a", "x\ry") }), ErrInvalidField},
		{"value trailing tab", with(func(r *Request) { r.Header = fields("a", "x\t") }), ErrInvalidField},
		{"too many fields", with(func(r *Request) { r.Header = make([]Field, MaxFields+1) }), ErrTooLarge},
		{"content too large", with(func(r *Request) { r.Content = make([]byte, MaxContentBytes+1) }), ErrTooLarge},
	}
	for _, tt := range tests {
		if _, err := tt.r.Marshal(); !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
	}
	if _, err := (MarshalOptions{Padding: -1}).MarshalRequest(&ok); !errors.Is(err, ErrTooLarge) {
		t.Errorf("negative padding: %v", err)
	}
	for _, r := range []*Response{
		{StatusCode: 199},
		{StatusCode: 600},
		{StatusCode: 200, Informational: []InformationalResponse{{StatusCode: 200}}},
		{StatusCode: 200, Informational: make([]InformationalResponse, MaxInformationalResponses+1)},
	} {
		if _, err := r.Marshal(); err == nil {
			t.Errorf("Marshal(%+v) succeeded", r)
		}
	}
}
