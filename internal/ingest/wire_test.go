package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/veil-telemetry/veil/internal/schema"
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

var wireSeeds = []string{
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
	`{"events":[{"fields":{"s":"\ud83d\ude00\ud800x\udc00"}}]}`,
	`{"events":[{"fields":{"s":"\u00e9\n\"\\\/\b\f\r\t"}}]}`,
	"{\"events\":[{\"fields\":{\"s\":\"\xff\"}}]}",
	"{\"events\":[{\"fields\":{\"s\":\"a\x01\"}}]}",
	`{"unknown":1}`,
	`{"events":[{"extra":1}]}`,
	`{"events":[{"schema":"a","schema":"b"}]}`,
	`{"events":[{"fields":{"a":01}}]}`,
	`{"events":[{"fields":{"a":-}}]}`,
	`{"events":[{"fields":{"a":1.}}]}`,
	`{"events":[{"fields":{"a":.5}}]}`,
	`{"events":[{"fields":{"a":tru}}]}`,
	`{"events":[{"fields":{"a":[1,]}}]}`,
	`{"events":[],}`,
	`{"events":[]} x`,
	` {"events" : [ ] } `,
	`[]`,
	`null`,
	``,
	`{"events":[{"fields":{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}}]}`,
	`{"events":[{"fields":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}]}`,
	string(typicalBatch(2)),
}

// shape is what encoding/json reads from a request: nil when the input
// is not JSON, or not of SubmitEventsRequest's shape as decodeBatch
// defines it (see wire.go): the check the fuzz test holds decodeBatch to.
type shape struct {
	batchID string
	events  []shapeEvent
}

type shapeEvent struct {
	schema  string
	version int32
	fields  map[string]any
	hasF    bool
}

// readShape decodes data with encoding/json. ok is false when
// encoding/json refuses it; conforms is false when it is JSON but breaks
// one of decodeBatch's stricter rules (duplicate names, invalid UTF-8,
// unknown members, wrong types, nesting near maxDepth).
func readShape(data []byte) (s shape, ok, conforms bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s, false, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return s, false, false
	}
	conforms = utf8.Valid(data) && uniqueNames(data)
	root, isObj := v.(map[string]any)
	if !isObj {
		return s, true, false
	}
	_, a := root["batch_id"]
	_, b := root["batchId"]
	if a && b {
		conforms = false
	}
	for k, mv := range root {
		switch k {
		case "batch_id", "batchId":
			switch id := mv.(type) {
			case string:
				s.batchID = id
			case nil:
			default:
				conforms = false
			}
		case "events":
			list, isList := mv.([]any)
			if mv != nil && !isList {
				conforms = false
			}
			for _, e := range list {
				ev, isObj := e.(map[string]any)
				if !isObj {
					conforms = false
					continue
				}
				var se shapeEvent
				for ek, ev := range ev {
					switch ek {
					case "schema":
						switch n := ev.(type) {
						case string:
							se.schema = n
						case nil:
						default:
							conforms = false
						}
					case "version":
						switch n := ev.(type) {
						case json.Number:
							f, err := strconv.ParseFloat(string(n), 64)
							if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
								conforms = false
							}
							se.version = int32(f)
						case nil:
						default:
							conforms = false
						}
					case "fields":
						switch m := ev.(type) {
						case map[string]any:
							se.fields, se.hasF = m, true
							for _, fv := range m {
								if depth(fv) > maxDepth-4 {
									conforms = false
								}
							}
						case nil:
						default:
							conforms = false
						}
					default:
						conforms = false
					}
				}
				s.events = append(s.events, se)
			}
		default:
			conforms = false
		}
	}
	return s, true, conforms
}

func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

// uniqueNames reports whether no object in data (valid JSON) names a
// member twice.
func uniqueNames(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj   bool
		names map[string]bool
		key   bool // the next string token is a name
	}
	var stack []*frame
	for {
		t, err := dec.Token()
		if err != nil {
			return true
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			if d, isDelim := t.(json.Delim); isDelim && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name := t.(string)
			if top.names[name] {
				return false
			}
			top.names[name] = true
			top.key = false
			continue
		}
		switch t {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, names: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object expects a name next.
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
}

// FuzzDecodeBatch holds the hand-written decoder to encoding/json: what
// decodeBatch accepts, encoding/json reads as the same batch (ids, events,
// each field's type and its string or exact number text); what
// encoding/json reads and that conforms to the shape, decodeBatch accepts.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var b batchRequest
		err := decodeBatch(data, &b)
		want, ok, conforms := readShape([]byte(data))
		if err != nil {
			if ok && conforms {
				t.Fatalf("decodeBatch refused %q, which encoding/json reads and conforms: %v", data, err)
			}
			return
		}
		if !ok || !conforms {
			t.Fatalf("decodeBatch accepted %q (encoding/json ok=%v, conforms=%v)", data, ok, conforms)
		}
		if b.batchID != want.batchID || len(b.events) != len(want.events) {
			t.Fatalf("%q: batch %q with %d events, encoding/json %q with %d", data, b.batchID, len(b.events), want.batchID, len(want.events))
		}
		for i, ev := range b.events {
			we := want.events[i]
			if ev.schema != we.schema || ev.version != we.version || len(ev.fields) != len(we.fields) || (ev.fields != nil) != we.hasF {
				t.Fatalf("%q: event %d = %+v, encoding/json %+v", data, i, ev, we)
			}
			for _, f := range ev.fields {
				wv, present := we.fields[f.Name]
				if !present || !sameValue(f, wv) {
					t.Fatalf("%q: event %d field %q = %+v, encoding/json %#v", data, i, f.Name, f, wv)
				}
			}
		}
	})
}

func sameValue(f schema.Field, v any) bool {
	switch v := v.(type) {
	case nil:
		return f.Type == schema.TypeNull
	case bool:
		return f.Type == schema.TypeBool && f.Bool == v
	case string:
		return f.Type == schema.TypeString && f.Text == v
	case json.Number:
		return f.Type == schema.TypeNumber && f.Text == string(v)
	case map[string]any:
		return f.Type == schema.TypeObject
	case []any:
		return f.Type == schema.TypeArray
	}
	return false
}

func TestDecodeBatchSeeds(t *testing.T) {
	accept := map[string]bool{
		`{}`: true, `{"batch_id":"x"}`: true, `{"batchId":"x"}`: true, `{"batch_id":null,"events":null}`: true,
		`{"events":[{}]}`: true, `{"events":[{"fields":null}]}`: true, `{"events":[{"fields":{}}]}`: true,
		`{"events":[{"version":1.0}]}`: true, `{"events":[{"version":1e0}]}`: true, `{"events":[{"version":-2147483648}]}`: true,
		`{"events":[{"fields":{"n":1e400}}]}`: true, `{"events":[{"fields":{"n":12345678901234567890}}]}`: true,
		`{"events":[{"fields":{"s":"\ud800"}}]}`: true, `{"events":[{"fields":{"s":"\ud83d\ude00\ud800x\udc00"}}]}`: true,
		`{"events":[{"fields":{"s":"\u00e9\n\"\\\/\b\f\r\t"}}]}`: true, ` {"events" : [ ] } `: true,
		`{"events":[{"fields":{"a":null,"b":[1,"x",{"c":true}],"d":{"e":-0}}}]}`:                  true,
		`{"events":[{"fields":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}]}`: true,
		string(typicalBatch(2)): true,
	}
	for _, s := range wireSeeds {
		var b batchRequest
		err := decodeBatch(s, &b)
		if (err == nil) != accept[s] {
			t.Errorf("decodeBatch(%q) = %v", s, err)
		}
	}
	var b batchRequest
	if err := decodeBatch(`{"events":[{"fields":{"s":"\ud83d\ude00\ud800x\udc00","e":"\u00e9"}}]}`, &b); err != nil {
		t.Fatal(err)
	}
	if got := b.events[0].fields[0].Text; got != "😀\uFFFDx\uFFFD" {
		t.Errorf("surrogates decoded to %q", got)
	}
}

// TestDecodeBatchDuplicatesLinear: an event with many fields is checked
// for repeated names in linear time (a set past linearNames), and a
// repeat far down is found.
func TestDecodeBatchDuplicates(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"events":[{"fields":{`)
	for i := range 5000 {
		sb.WriteString(`"f` + strconv.Itoa(i) + `":1,`)
	}
	body := sb.String()
	var b batchRequest
	if err := decodeBatch(body+`"f4999x":1}}]}`, &b); err != nil || len(b.events[0].fields) != 5001 {
		t.Fatalf("5001 distinct fields: %v", err)
	}
	if err := decodeBatch(body+`"f17":1}}]}`, &b); err == nil {
		t.Fatal("a repeated name far down was accepted")
	}
}

func TestAppendResults(t *testing.T) {
	results := []eventResult{
		{status: StatusAccepted},
		{status: StatusRejected, reason: "identifier_email", field: "note", pointer: "/note"},
		{status: StatusRejected, reason: "schema_invalid_event", pointer: "/a~1b"},
		{status: StatusDuplicate, reason: "duplicate"},
		{field: "q\"\\\n\x00\x1f\x7f é\u2028<>&"},
	}
	got := appendResults(nil, results)
	var v struct {
		Results []struct {
			Index                          *int
			Status, Reason, Field, Pointer string
		}
	}
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	for i, r := range v.Results {
		w := results[i]
		if r.Index == nil || *r.Index != i || r.Status != w.status || r.Reason != w.reason || r.Field != w.field || r.Pointer != w.pointer {
			t.Errorf("result %d = %+v, want %+v", i, r, w)
		}
	}
	if want := `{"index":1,"status":"rejected","reason":"identifier_email","field":"note","pointer":"/note"}`; !strings.Contains(string(got), want) {
		t.Errorf("%s lacks %s", got, want)
	}
	if got := string(appendResults(nil, nil)); got != `{}` {
		t.Errorf("empty: %s", got)
	}
}

// stdRequest is SubmitEventsRequest in encoding/json's terms, fields as
// raw values: the decoding the hand-written decoder replaces.
type stdRequest struct {
	BatchID string `json:"batch_id"`
	Events  []struct {
		Schema  string                     `json:"schema"`
		Version int32                      `json:"version"`
		Fields  map[string]json.RawMessage `json:"fields"`
	} `json:"events"`
}

// BenchmarkDecodeBatch compares decodeBatch with encoding/json reading
// the same body into the checker's shape (each raw value then typed by
// its first byte and, for strings, unquoted): the gain that keeps the
// hand-written decoder.
func BenchmarkDecodeBatch(b *testing.B) {
	data := typicalBatch(50)
	b.Run("hand", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		defer reportPerEvent(b, 50)()
		for b.Loop() {
			var br batchRequest
			if err := decodeBatch(string(data), &br); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		defer reportPerEvent(b, 50)()
		for b.Loop() {
			var r stdRequest
			if err := json.Unmarshal(data, &r); err != nil {
				b.Fatal(err)
			}
			fields := make([]schema.Field, 0, 6*len(r.Events))
			for _, e := range r.Events {
				for name, raw := range e.Fields {
					f := schema.Field{Name: name}
					switch raw[0] {
					case '"':
						f.Type = schema.TypeString
						if err := json.Unmarshal(raw, &f.Text); err != nil {
							b.Fatal(err)
						}
					case 't', 'f':
						f.Type, f.Bool = schema.TypeBool, raw[0] == 't'
					case 'n':
					default:
						f.Type, f.Text = schema.TypeNumber, string(raw)
					}
					fields = append(fields, f)
				}
			}
		}
	})
}

// BenchmarkAppendResults compares the hand-written response encoder with
// encoding/json for 50 accepted events.
func BenchmarkAppendResults(b *testing.B) {
	results := make([]eventResult, 50)
	for i := range results {
		results[i].status = StatusAccepted
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendResults(make([]byte, 0, 16+48*len(results)), results)
		}
	})
	type res struct {
		Index   int    `json:"index"`
		Status  string `json:"status,omitempty"`
		Reason  string `json:"reason,omitempty"`
		Field   string `json:"field,omitempty"`
		Pointer string `json:"pointer,omitempty"`
	}
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := struct {
				Results []res `json:"results"`
			}{make([]res, len(results))}
			for i, r := range results {
				out.Results[i] = res{i, r.status, r.reason, r.field, r.pointer}
			}
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
