package sdk

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

var resultsSeeds = []string{
	`{"results":[{"status":"accepted"},{"index":1,"status":"rejected","reason":"identifier_email","field":"note"},{"index":2,"status":"duplicate"}]}`,
	`{"results":[]}`,
	` { "results" : [ { "index" : "3" , "status" : "STATUS_ACCEPTED" } ] } `,
	`{"results":[{"index":0,"status":"rejected","reason":"schema_invalid_event","field":"x","pointer":"/fields/x"}]}`,
	`{"results":[{"index":01,"status":"accepted"}]}`,
	`{"results":[{"index":1.5,"status":"accepted"}]}`,
	`{"results":[{"index":-1,"status":"accepted"}]}`,
	`{"results":[{"status":"acc\u0065pted"}]}`,
	`{"results":[{"status":"accepted","extra":true}]}`,
	`{"results":[{"status":"accepted"}],"next":1}`,
	`{"results":[{"status":"accepted"}]}x`,
	`{"results":[{"status":"accepted",}]}`,
	`{"results":[{"index":null,"status":"accepted"}]}`,
	`{"results":[{"index":12345678901,"status":"accepted"}]}`,
}

// FuzzScanResults checks that the fast path never reads an answer
// differently from encoding/json: whatever it accepts, decodeResults reads
// the same way.
func FuzzScanResults(f *testing.F) {
	for _, s := range resultsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := scanResults(nil, b)
		if !ok {
			return
		}
		slow, err := decodeResults(b)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refused: %v", b, err)
		}
		if len(fast) == 0 && len(slow) == 0 {
			return
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\nslow %+v", b, fast, slow)
		}
	})
}

func TestParseResultsFallback(t *testing.T) {
	evs := make([]event, 4)
	for i := range evs {
		evs[i] = event{seq: uint64(i + 1), schema: "s", version: 1}
	}
	for _, body := range []string{
		`{"results":[{"status":"acc\u0065pted"},{"index":1,"status":"accepted","extra":{"a":[1]}},{"index":"2","status":"STATUS_ACCEPTED"},{"index":3,"status":"accepted"}]}`,
	} {
		if _, ok := scanResults(nil, []byte(body)); ok {
			t.Errorf("fast path took %s", body)
		}
		rs, err := parseResults([]byte(body), evs)
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		for i, r := range rs[:3] {
			if r.Status != StatusAccepted {
				t.Errorf("%s: result %d = %+v", body, i, r)
			}
		}
	}
	if _, err := parseResults([]byte(`{"results":`), evs); err == nil {
		t.Error("truncated results accepted")
	}
}

// TestAppendEvent checks the hand-written encoder against encoding/json.
func TestAppendEvent(t *testing.T) {
	type custom struct{ A int }
	fields := map[string]any{
		"s": "plain", "esc": "q\"b\\n\n\r\t\x01\x1f<>&\u2028é", "bad": "\xff\xfe", "empty": "",
		"t": true, "f": false, "nil": nil,
		"i": -42, "i8": int8(-8), "i16": int16(16), "i32": int32(-32), "i64": int64(math.MinInt64),
		"u": uint(7), "u8": uint8(8), "u16": uint16(16), "u32": uint32(32), "u64": uint64(math.MaxUint64),
		"f32": float32(1.5), "f64": 3.25, "big": 1e300, "small": -1e-300, "custom": custom{A: 1},
		strings.Repeat("k", 20): 1,
	}
	b, err := appendEvent(nil, "app.\"launch\"", 3, fields)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	ref, _ := json.Marshal(map[string]any{"schema": "app.\"launch\"", "version": 3, "fields": fields})
	json.Unmarshal(ref, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("appendEvent:\n got %s\nwant %s", b, ref)
	}
	for _, v := range []any{math.NaN(), math.Inf(1), float32(math.Inf(-1)), make(chan int)} {
		if _, err := appendEvent(nil, "s", 1, map[string]any{"x": v}); err == nil {
			t.Errorf("appendEvent accepted %v", v)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x7f\u2028", "\xff", "é😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s", s, b)
		}
		want, _ := json.Marshal(s)
		var wantS string
		json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Fatalf("%q round-trips to %q, encoding/json gives %q", s, got, wantS)
		}
	})
}
