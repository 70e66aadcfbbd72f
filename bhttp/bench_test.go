package bhttp

import (
	"strings"
	"testing"
)

// benchRequest is a realistic inner request: a ~2 KiB event batch.
func benchRequest() *Request {
	var sb strings.Builder
	sb.WriteString(`{"batch_id":"q83vEjRWeJq83vEjRWeJqw","events":[`)
	for i := 0; sb.Len() < 1900; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"schema":"app.launch","version":1,"fields":{"os":"ios","app_version":"4.12","cold_start_ms":420}}`)
	}
	sb.WriteString(`]}`)
	return &Request{
		Method: "POST", Scheme: "https", Authority: "collector.example.net", Path: "/v1/events",
		Header: []Field{
			{"content-type", "application/json"},
			{"date", "Tue, 21 Nov 2028 08:32:00 GMT"},
			{"accept", "application/json"},
		},
		Content: []byte(sb.String()),
	}
}

func benchResponse() *Response {
	return &Response{
		StatusCode: 200,
		Header: []Field{
			{"Content-Type", "application/json"},
			{"Date", "Tue, 21 Nov 2028 08:32:00 GMT"},
		},
		Content: []byte(`{"results":[` + strings.Repeat(`{"status":"accepted"},`, 19) + `{"status":"accepted"}]}`),
	}
}

func BenchmarkUnmarshalRequest(b *testing.B) {
	enc, err := benchRequest().Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalRequest(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalResponse(b *testing.B) {
	r := benchResponse()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendMarshalResponse(b *testing.B) {
	r := benchResponse()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = r.AppendMarshal(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalRequest(b *testing.B) {
	r := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
