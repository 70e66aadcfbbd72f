package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// typicalEvent is a 6-field event of about the size the budget is stated
// for.
const typicalEvent = `{"schema":"app.launch","version":1,"fields":{"os":"android","app_version":"12.4","locale":"de-DE","cold_start_ms":420,"warm":false,"screens":3}}`

func typicalBatch(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"batch_id":"AAECAwQFBgcICQoLDA0ODw","events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(typicalEvent)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

var marshalerSeeds = []string{
	`{}`,
	`{"batch_id":"x"}`,
	`{"batchId":"x"}`,
	`{"batch_id":"x","batchId":"y"}`,
	`{"batch_id":"x","batch_id":"y"}`,
	`{"batch_id":null,"events":null}`,
	`{"events":[null]}`,
	`{"events":[{}]}`,
	`{"events":[{"fields":null}]}`,
	`{"events":[{"fields":{}}]}`,
	`{"events":[{"fields":{"a":null,"b":[1,"x",{"c":true}],"d":{"e":-0}}}]}`,
	`{"events":[{"fields":{"a":1,"a":2}}]}`,
	`{"events":[{"version":"1"}]}`,
	`{"events":[{"version":1.0}]}`,
	`{"events":[{"version":1e0}]}`,
	`{"events":[{"version":2147483648}]}`,
	`{"events":[{"version":-2147483648}]}`,
	`{"events":[{"schema":5}]}`,
	`{"events":[{"fields":{"n":1e400}}]}`,
	`{"events":[{"fields":{"n":12345678901234567890}}]}`,
	`{"events":[{"fields":{"s":"\ud800"}}]}`,
	`{"events":[{"fields":{"s":"\u00e9\n\"\\"}}]}`,
	"{\"events\":[{\"fields\":{\"s\":\"\xff\"}}]}",
	`{"unknown":1}`,
	`{"events":[{"extra":1}]}`,
	`{"BATCH_ID":"x"}`,
	`null`,
	`[]`,
	`"x"`,
	`{"batch_id":"x"} {}`,
	`{"batch_id":"x"`,
	` { "events" : [ ] } `,
	typicalEvent,
	string(typicalBatch(2)),
}

// checkAgainstProtojson fails t unless the marshaler decodes data exactly
// as protojson does: same message when protojson accepts, an error when it
// refuses, and the fast path never accepting what protojson refuses.
func checkAgainstProtojson(t *testing.T, data []byte) {
	t.Helper()
	var want veilv1.SubmitEventsRequest
	wantErr := protojson.Unmarshal(data, &want)

	var fast, kept veilv1.SubmitEventsRequest
	d := &decoded{}
	fastOK, keptOK := fastRequest(data, &fast), fastRequestInto(data, &kept, d)
	if fastOK != keptOK {
		t.Fatalf("%q: fast path with Structs took it: %v, with decoded fields: %v", data, fastOK, keptOK)
	}
	if fastOK {
		if wantErr != nil {
			t.Fatalf("fast path accepted %q, protojson refuses it: %v", data, wantErr)
		}
		if !proto.Equal(&fast, &want) {
			t.Fatalf("fast path decoded %q as %v, protojson as %v", data, &fast, &want)
		}
		if d.req != &kept {
			t.Fatalf("%q: decoded fields not tied to their message", data)
		}
		materialize(&kept, d)
		if !proto.Equal(&kept, &want) {
			t.Fatalf("decoded fields of %q build %v, protojson %v", data, &kept, &want)
		}
	}

	var got veilv1.SubmitEventsRequest
	err := (&JSONMarshaler{}).Unmarshal(data, &got)
	switch {
	case wantErr != nil && err == nil:
		t.Fatalf("accepted %q, protojson refuses it: %v", data, wantErr)
	case wantErr == nil && err != nil:
		t.Fatalf("refused %q (%v), protojson accepts it", data, err)
	case wantErr == nil && !proto.Equal(&got, &want):
		t.Fatalf("decoded %q as %v, protojson as %v", data, &got, &want)
	}
}

func TestJSONMarshalerMatchesProtojson(t *testing.T) {
	for _, s := range marshalerSeeds {
		checkAgainstProtojson(t, []byte(s))
	}
}

func TestJSONMarshalerFastPathTaken(t *testing.T) {
	for _, s := range []string{`{}`, `{"events":[{"fields":{"a":null,"b":[1]}}]}`, string(typicalBatch(3))} {
		var r veilv1.SubmitEventsRequest
		if !fastRequest([]byte(s), &r) {
			t.Errorf("fast path declined %s", s)
		}
	}
}

func FuzzJSONMarshaler(f *testing.F) {
	for _, s := range marshalerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstProtojson(t, data)
	})
}

func TestJSONMarshalerDecoder(t *testing.T) {
	m := &JSONMarshaler{MaxBytes: 64}
	var r veilv1.SubmitEventsRequest
	if err := m.NewDecoder(strings.NewReader("  \n")).Decode(&r); !errors.Is(err, io.EOF) {
		t.Errorf("empty body: got %v, want io.EOF", err)
	}
	if err := m.NewDecoder(strings.NewReader(`{"batch_id":"abc"}`)).Decode(&r); err != nil || r.BatchId != "abc" {
		t.Errorf("small body: got %v, %v", &r, err)
	}
	big := typicalBatch(1)
	if err := m.NewDecoder(bytes.NewReader(big)).Decode(&r); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("%d-byte body with MaxBytes 64: got %v, want ErrBodyTooLarge", len(big), err)
	}
	// Other messages take protojson's path.
	var res veilv1.EventResult
	if err := m.NewDecoder(strings.NewReader(`{"index":0,"status":"accepted"}`)).Decode(&res); err != nil || res.Index == nil || res.Status != "accepted" {
		t.Errorf("EventResult: got %v, %v", &res, err)
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("compact %q: %v", b, err)
	}
	return buf.String()
}

func TestJSONMarshalerResponseMatchesProtojson(t *testing.T) {
	idx := func(i int32) *int32 { return &i }
	cases := []*veilv1.SubmitEventsResponse{
		{},
		{Results: []*veilv1.EventResult{}},
		{Results: []*veilv1.EventResult{
			{Index: idx(0), Status: "accepted"},
			{Index: idx(1), Status: "rejected", Reason: "identifier_email", Field: "note"},
			{Index: idx(2), Status: "rejected", Reason: "schema_invalid_event", Pointer: "/a~1b"},
			{Status: "duplicate"},
			{Index: idx(-7), Field: "q\"\\\n\r\t\b\f\x00\x1f\x7f é\u2028<>&"},
			{},
		}},
	}
	m := &JSONMarshaler{}
	for i, c := range cases {
		got, err := m.Marshal(c)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := compact(t, got), compact(t, want); g != w {
			t.Errorf("case %d:\n got %s\nwant %s", i, g, w)
		}
	}
	bad := &veilv1.SubmitEventsResponse{Results: []*veilv1.EventResult{{Field: "\xff"}}}
	if _, err := m.Marshal(bad); err == nil {
		t.Error("invalid UTF-8 marshalled without error")
	}
	// Non-response messages go through protojson with proto names.
	b, err := m.Marshal(&veilv1.SubmitEventsRequest{BatchId: "x"})
	if err != nil || !strings.Contains(string(b), `"batch_id"`) {
		t.Errorf("request marshal: %s, %v", b, err)
	}
	var buf bytes.Buffer
	if err := m.NewEncoder(&buf).Encode(cases[2]); err != nil || buf.Len() == 0 {
		t.Errorf("encoder: %v", err)
	}
}

func BenchmarkDecodeProtoJSON(b *testing.B) {
	data := typicalBatch(50)
	b.SetBytes(int64(len(data)))
	defer reportPerEvent(b, 50)()
	for b.Loop() {
		var r veilv1.SubmitEventsRequest
		if err := protojson.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFastPath(b *testing.B) {
	data := typicalBatch(50)
	m := &JSONMarshaler{}
	b.SetBytes(int64(len(data)))
	defer reportPerEvent(b, 50)()
	for b.Loop() {
		var r veilv1.SubmitEventsRequest
		if err := m.Unmarshal(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleJSONMarshaler() {
	m := &JSONMarshaler{}
	var req veilv1.SubmitEventsRequest
	err := m.Unmarshal([]byte(`{"batch_id":"AAECAwQFBgcICQoLDA0ODw","events":[{"schema":"app.launch","version":1,"fields":{"os":"ios"}}]}`), &req)
	fmt.Println(err, req.GetEvents()[0].GetFields().GetFields()["os"].GetStringValue())
	// Output: <nil> ios
}

func unmarshalProtoJSON(data []byte, r *veilv1.SubmitEventsRequest) error {
	return protojson.Unmarshal(data, r)
}
