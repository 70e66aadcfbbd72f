package storage

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func samplePayload(t testing.TB) []byte {
	t.Helper()
	hour := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	b := &Batch{Records: []Record{
		{Bucket: hour, Schema: "app.launch", Version: 3, Dimensions: map[string]any{"os": "ios", "n": int64(-2)}, Measures: map[string]float64{"ms": 420, "x": -1.5}},
		{Bucket: hour, Schema: "app.launch", Version: 3, Dimensions: map[string]any{"os": "ios", "n": int64(-2)}, Measures: map[string]float64{"ms": 12}},
		{Bucket: hour, Schema: "app.launch", Version: 3, Dimensions: map[string]any{"os": "android"}},
	}, Outcomes: []OutcomeCount{{Bucket: hour, Schema: "app.launch", Version: 3, Outcome: "accepted", Count: 3},
		{Bucket: hour, Outcome: "rejected", Reason: "schema_unknown", Count: 1}}}
	p, content, err := encodePayload(b)
	if err != nil || !content {
		t.Fatal(err, content)
	}
	return p
}

func TestPayloadRoundTrip(t *testing.T) {
	b := samplePayload(t)
	p, err := decodePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cells) != 2 || len(p.Outcomes) != 2 || p.Closes != time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC).Unix() {
		t.Fatalf("%+v", p)
	}
	var ios *stagedCell
	for i := range p.Cells {
		if p.Cells[i].Dims == `{"n":-2,"os":"ios"}` {
			ios = &p.Cells[i]
		}
	}
	if ios == nil || ios.Count != 2 || len(ios.M) != 2 || ios.M[0].Name != "ms" || ios.M[0].N != 2 || ios.M[0].Sum != 432 || ios.M[0].Min != 12 || ios.M[0].Max != 420 {
		t.Fatalf("ios cell %+v", ios)
	}
	k, c, err := cellOf(ios)
	if err != nil || k.schema != "app.launch" || k.version != 3 || c.ms[0].hist.Count() != 2 {
		t.Fatalf("cellOf: %+v %+v %v", k, c, err)
	}
	again, err := decodePayload(encodeBinaryPayload(p))
	if err != nil || !reflect.DeepEqual(again, p) {
		t.Fatalf("re-encoding changed the payload: %v", err)
	}
	for n := range len(b) {
		if _, err := decodePayload(b[:n]); !errors.Is(err, errPayload) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := decodePayload(append(b, 0)); !errors.Is(err, errPayload) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// FuzzDecodePayload: no panic; a payload that decodes encodes to one that
// decodes to the same; a rejected one gets errPayload.
func FuzzDecodePayload(f *testing.F) {
	f.Add(samplePayload(f))
	f.Add([]byte{payloadVersion, 0, 0, 0, 0, 0})
	f.Add([]byte{payloadVersion, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil {
			if !errors.Is(err, errPayload) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := decodePayload(encodeBinaryPayload(p))
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, p, again)
		}
	})
}
