package faulttest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/ohttp"
)

// TestBadOuterRequests sends malformed encapsulated requests to the real
// gateway handler: each gets its documented plain HTTP answer (gateway
// package doc, RFC 9458 §5.2–5.3) and nothing panics.
func TestBadOuterRequests(t *testing.T) {
	s := newInproc(t)
	good := e2etest.Seal(t, s.cfg, e2etest.Inner{Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 1)})}.Marshal(t))
	hdr := func(keyID uint8, kem, kdf, aead uint16) []byte {
		b := []byte{keyID}
		b = binary.BigEndian.AppendUint16(b, kem)
		b = binary.BigEndian.AppendUint16(b, kdf)
		return binary.BigEndian.AppendUint16(b, aead)
	}
	withKeyID := func(id uint8) []byte {
		b := bytes.Clone(good.Body)
		b[0] = id
		return b
	}
	flipped := bytes.Clone(good.Body)
	flipped[len(flipped)-1] ^= 1
	encFlipped := bytes.Clone(good.Body)
	encFlipped[10] ^= 0x80
	retired := e2etest.Seal(t, s.retired, e2etest.Inner{Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 1)})}.Marshal(t))
	cases := []struct {
		name   string
		body   []byte
		header map[string]string
		status int
		typ    string
	}{
		{"empty", nil, nil, 400, "about:blank"},
		{"one byte", []byte{1}, nil, 400, "about:blank"},
		{"header only", hdr(keyCurrent, 0x20, 1, 1), nil, 400, "about:blank"},
		{"truncated enc", good.Body[:20], nil, 400, "about:blank"},
		{"no ciphertext", good.Body[:7+32], nil, 400, "about:blank"},
		{"ciphertext shorter than tag", good.Body[:7+32+8], nil, 400, "about:blank"},
		{"unknown KEM", append(hdr(keyCurrent, 0x9999, 1, 1), good.Body[7:]...), nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"unknown KDF", append(hdr(keyCurrent, 0x20, 0x7777, 1), good.Body[7:]...), nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"unknown AEAD", append(hdr(keyCurrent, 0x20, 1, 0x7777), good.Body[7:]...), nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"export-only AEAD", append(hdr(keyCurrent, 0x20, 1, 0xffff), good.Body[7:]...), nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"suite not offered", append(hdr(keyCurrent, 0x20, 1, 3), good.Body[7:]...), nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"wrong KEM for key", append(hdr(keyCurrent, 0x10, 1, 1), good.Body[7:]...), nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"unknown key id", withKeyID(keyUnknown), nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"retired key id", retired.Body, nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"ciphertext flipped", flipped, nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"enc flipped", encFlipped, nil, gateway.StatusKeyProblem, ohttp.ProblemTypeKey},
		{"wrong media type", good.Body, map[string]string{"Content-Type": "application/octet-stream"}, 415, "about:blank"},
		{"no media type", good.Body, map[string]string{"Content-Type": ""}, 415, "about:blank"},
		{"expect 100-continue", good.Body, map[string]string{"Expect": "100-continue"}, 417, "about:blank"},
		{"over the size limit", make([]byte, maxRequestBytes+1), nil, 413, "about:blank"},
	}
	keyProblem := map[string][]byte{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := s.post(c.body, c.header)
			if o.Status != c.status {
				t.Fatalf("status %d, want %d: %s", o.Status, c.status, o.Body)
			}
			if got := o.Header.Get("Content-Type"); got != "application/problem+json" {
				t.Errorf("content type %q", got)
			}
			if got := problemType(o.Body); got != c.typ {
				t.Errorf("problem type %q, want %q", got, c.typ)
			}
			if c.status == gateway.StatusKeyProblem {
				keyProblem[c.name] = o.Body
			}
		})
	}
	// RFC 9458 §6.4: whichever check failed, the key problem is one
	// answer, byte for byte.
	var first []byte
	for name, b := range keyProblem {
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Errorf("key problem of %q differs: %s vs %s", name, b, first)
		}
	}

	// Methods and paths other than the gateway's.
	for _, r := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/gateway", 405},
		{http.MethodPut, "/gateway", 405},
		{http.MethodPost, "/ohttp-keys", 405},
		{http.MethodPost, "/v1/events", 404},
		{http.MethodGet, "/metrics", 404},
	} {
		req := httptest.NewRequest(r.method, "http://veil.test"+r.path, bytes.NewReader(good.Body))
		req.Header.Set("Content-Type", ohttp.RequestMediaType)
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		if rec.Code != r.status {
			t.Errorf("%s %s: %d, want %d", r.method, r.path, rec.Code, r.status)
		}
	}
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM rollups"); n != 0 {
		t.Errorf("%d events stored from refused requests", n)
	}
}

// TestOuterSizeLimit sends encapsulated requests of exactly
// MaxRequestBytes (accepted) and one byte more (413), with and without a
// Content-Length.
func TestOuterSizeLimit(t *testing.T) {
	s := newInproc(t)
	inner := e2etest.Inner{Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 7)})}.Marshal(t)
	probe := e2etest.Seal(t, s.cfg, inner)
	overhead := len(probe.Body) - len(inner)
	padTo := func(n int) []byte {
		// RFC 9292 §3.8: zero padding after the message.
		return append(bytes.Clone(inner), make([]byte, n-overhead-len(inner))...)
	}
	for _, chunked := range []bool{false, true} {
		inner = e2etest.Inner{Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 7)})}.Marshal(t)
		at := e2etest.Seal(t, s.cfg, padTo(maxRequestBytes))
		if len(at.Body) != maxRequestBytes {
			t.Fatalf("built %d bytes, want %d", len(at.Body), maxRequestBytes)
		}
		over := e2etest.Seal(t, s.cfg, padTo(maxRequestBytes+1))
		post := func(b []byte) e2etest.Reply {
			req := httptest.NewRequest(http.MethodPost, "http://veil.test/gateway", bytes.NewReader(b))
			req.Header.Set("Content-Type", ohttp.RequestMediaType)
			if chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			s.handler.ServeHTTP(rec, req)
			return e2etest.Reply{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
		}
		if st := statuses(e2etest.Results(t, at.Open(t, post(at.Body)))); st["accepted"] != 1 {
			t.Errorf("chunked=%v: at the limit: %v", chunked, st)
		}
		if o := post(over.Body); o.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked=%v: one byte over: %d %s", chunked, o.Status, o.Body)
		}
	}
}

// TestBadInnerRequests decapsulates fine but carries a bad Binary HTTP
// message, Date, path, content coding or JSON body: the answer travels
// inside the encapsulation with its documented inner status.
func TestBadInnerRequests(t *testing.T) {
	s := newInproc(t)
	now := time.Now()
	stale := now.Add(-replayWindow - time.Minute)
	future := now.Add(replayWindow + time.Minute)
	var zero time.Time
	id := e2etest.NewBatchID()
	good := batchJSON(id, []ev{seqEv("ios", 1)})
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	gzipHdr := []bhttp.Field{{Name: "content-encoding", Value: "gzip"}}
	// A valid batch padded with JSON whitespace to exactly n bytes.
	padded := func(n int) []byte {
		b := batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 2)})
		return append(b, bytes.Repeat([]byte{' '}, n-len(b))...)
	}
	manyEvents := func(n int) []byte {
		evs := make([]ev, n)
		for i := range evs {
			evs[i] = seqEv("android", int64(i))
		}
		return batchJSON(e2etest.NewBatchID(), evs)
	}
	bhttpOf := func(r e2etest.Inner) []byte { return r.Marshal(t) }
	indeterminate, err := bhttp.MarshalOptions{Indeterminate: true, Truncate: true, Padding: 3}.MarshalRequest(&bhttp.Request{
		Method: "POST", Scheme: "https", Authority: "x", Path: "/v1/events",
		Header: []bhttp.Field{{Name: "content-type", Value: "application/json"},
			{Name: "date", Value: now.UTC().Format(http.TimeFormat)}},
		Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", 3)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	hugeLen := append([]byte{0, 4, 'P', 'O', 'S', 'T'}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	cases := []struct {
		name  string
		plain []byte
		inner int
		typ   string // problem type, for error answers
		// accepted is the number of accepted events of a 200 answer.
		accepted int
	}{
		{"empty Binary HTTP", nil, 400, "about:blank", 0},
		{"bad framing indicator", []byte{7, 1, 2, 3}, 400, "about:blank", 0},
		{"response framing", []byte{1, 0x40, 200, 0, 0, 0}, 400, "about:blank", 0},
		{"declared length past the end", hugeLen, 400, "about:blank", 0},
		{"truncated field section", bhttpOf(e2etest.Inner{Content: good})[:30], 400, "", 0},
		{"indeterminate, truncated, padded", indeterminate, 200, "", 1},
		{"no Date", bhttpOf(e2etest.Inner{Date: &zero, Content: good}), 400, ohttp.ProblemTypeDate, 0},
		{"stale Date", bhttpOf(e2etest.Inner{Date: &stale, Content: good}), 400, ohttp.ProblemTypeDate, 0},
		{"future Date", bhttpOf(e2etest.Inner{Date: &future, Content: good}), 400, ohttp.ProblemTypeDate, 0},
		{"garbage Date", bhttpOf(e2etest.Inner{Date: &zero, Header: []bhttp.Field{{Name: "date", Value: "yesterday"}}, Content: good}), 400, ohttp.ProblemTypeDate, 0},
		{"path not absolute", rawRequest("POST", "v1/events", now, good), 400, "about:blank", 0},
		{"absolute URL as path", rawRequest("POST", "http://127.0.0.1:1/v1/events", now, good), 400, "about:blank", 0},
		{"asterisk path", rawRequest("OPTIONS", "*", now, nil), 400, "about:blank", 0},
		{"admin path", bhttpOf(e2etest.Inner{Path: "/v1/schemas", Content: good}), 404, "", 0},
		{"keys path", bhttpOf(e2etest.Inner{Method: "GET", Path: "/v1/keys"}), 404, "", 0},
		{"metrics path", bhttpOf(e2etest.Inner{Method: "GET", Path: "/metrics"}), 404, "", 0},
		{"unknown coding", bhttpOf(e2etest.Inner{Header: []bhttp.Field{{Name: "content-encoding", Value: "br"}}, Content: good}), 415, "about:blank", 0},
		{"bad gzip", bhttpOf(e2etest.Inner{Header: gzipHdr, Content: []byte("not gzip")}), 400, "about:blank", 0},
		{"gzip at the inner limit", bhttpOf(e2etest.Inner{Header: gzipHdr, Content: gz(padded(maxInnerBytes))}), 200, "", 1},
		{"gzip one byte over", bhttpOf(e2etest.Inner{Header: gzipHdr, Content: gz(padded(maxInnerBytes + 1))}), 413, "about:blank", 0},
		{"gzip bomb", bhttpOf(e2etest.Inner{Header: gzipHdr, Content: gz(make([]byte, 64<<20))}), 413, "about:blank", 0},
		{"events at the limit", bhttpOf(e2etest.Inner{Content: manyEvents(maxEvents)}), 200, "", maxEvents},
		{"events one over", bhttpOf(e2etest.Inner{Content: manyEvents(maxEvents + 1)}), 413, "", 0},
		{"not JSON", bhttpOf(e2etest.Inner{Content: []byte("hello")}), 400, "", 0},
		{"empty object", bhttpOf(e2etest.Inner{Content: []byte("{}")}), 400, "", 0},
		{"short batch_id", bhttpOf(e2etest.Inner{Content: []byte(`{"batch_id":"abc","events":[]}`)}), 400, "", 0},
		{"batch_id not base64url", bhttpOf(e2etest.Inner{Content: []byte(`{"batch_id":"` + strings.Repeat("!", 22) + `","events":[]}`)}), 400, "", 0},
		{"events not a list", bhttpOf(e2etest.Inner{Content: []byte(`{"batch_id":"` + e2etest.NewBatchID() + `","events":{}}`)}), 400, "", 0},
		{"unknown top-level field", bhttpOf(e2etest.Inner{Content: []byte(`{"batch_id":"` + e2etest.NewBatchID() + `","events":[],"ip":"1.2.3.4"}`)}), 400, "", 0},
		{"trailing garbage", bhttpOf(e2etest.Inner{Content: append(batchJSON(e2etest.NewBatchID(), nil), "}}"...)}), 400, "", 0},
		{"deep nesting", bhttpOf(e2etest.Inner{Content: []byte(`{"batch_id":"` + e2etest.NewBatchID() + `","events":[{"schema":"fault.event","version":1,"fields":{"os":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}]}`)}), 400, "", 0},
		{"invalid UTF-8", bhttpOf(e2etest.Inner{Content: []byte("{\"batch_id\":\"" + e2etest.NewBatchID() + "\",\"events\":[{\"schema\":\"fault.event\",\"version\":1,\"fields\":{\"os\":\"\xff\xfe\"}}]}")}), 400, "", 0},
		{"NaN literal", bhttpOf(e2etest.Inner{Content: []byte(`{"batch_id":"` + e2etest.NewBatchID() + `","events":[{"schema":"fault.event","version":1,"fields":{"os":"ios","seq":NaN}}]}`)}), 400, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sl := e2etest.Seal(t, s.cfg, c.plain)
			resp := sl.Open(t, s.post(sl.Body, nil))
			if resp.StatusCode != c.inner {
				t.Fatalf("inner status %d, want %d: %.300s", resp.StatusCode, c.inner, resp.Content)
			}
			if c.inner == 200 {
				if st := statuses(e2etest.Results(t, resp)); st["accepted"] != c.accepted {
					t.Errorf("results %v, want %d accepted", st, c.accepted)
				}
				return
			}
			if ct := fieldOf(resp, "content-type"); !strings.Contains(ct, "json") {
				t.Errorf("error answer of type %q", ct)
			}
			if c.typ != "" {
				if got := problemType(resp.Content); got != c.typ {
					t.Errorf("problem type %q, want %q", got, c.typ)
				}
			}
			if c.typ == ohttp.ProblemTypeDate {
				// RFC 9458 §6.5.2: the gateway's own Date, for the
				// client to correct its clock.
				d, err := http.ParseTime(fieldOf(resp, "date"))
				if err != nil || d.Sub(time.Now()).Abs() > time.Minute {
					t.Errorf("date problem carries Date %q", fieldOf(resp, "date"))
				}
			}
		})
	}
	// Only the accepted cases stored anything.
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM rollups"); n != int64(1+1+maxEvents) {
		t.Errorf("%d events stored, want %d", n, 1+1+maxEvents)
	}
}

// TestBadEvents sends events that fail their schema: each is rejected with
// its reason code and field, never stored, and the batch still answers.
func TestBadEvents(t *testing.T) {
	s := newInproc(t)
	many := map[string]any{"os": "ios"}
	for i := range 80 {
		many["f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))] = i
	}
	events := []struct {
		fields map[string]any
		schema string
		ver    int
		reason string
		field  string
	}{
		{map[string]any{"os": "ios", "seq": 1}, "fault.event", 1, "", ""},
		{map[string]any{"os": "windows"}, "fault.event", 1, schema.ReasonFieldOutOfRange, "os"},
		{map[string]any{"seq": 1}, "fault.event", 1, schema.ReasonFieldMissing, "os"},
		{map[string]any{"os": "ios", "seq": -1}, "fault.event", 1, schema.ReasonFieldOutOfRange, "seq"},
		{map[string]any{"os": "ios", "seq": 1.5}, "fault.event", 1, schema.ReasonFieldType, "seq"},
		{map[string]any{"os": "ios", "seq": "1"}, "fault.event", 1, schema.ReasonFieldType, "seq"},
		{map[string]any{"os": map[string]any{"a": 1}}, "fault.event", 1, schema.ReasonFieldOutOfRange, "os"},
		{map[string]any{"os": "ios", "label": []any{"a"}}, "fault.event", 1, schema.ReasonFieldType, "label"},
		{map[string]any{"os": "ios", "extra": 1}, "fault.event", 1, schema.ReasonFieldUnknown, "extra"},
		{map[string]any{"os": "ios", "label": "mail jane.roe@example.org"}, "fault.event", 1, schema.ReasonIdentifierEmail, "label"},
		{map[string]any{"os": "ios", "label": strings.Repeat("a", 65)}, "fault.event", 1, schema.ReasonFieldOutOfRange, "label"},
		{many, "fault.event", 1, schema.ReasonFieldUnknown, ""},
		{map[string]any{"os": "ios"}, "fault.event", 2, schema.ReasonSchemaUnknown, ""},
		{map[string]any{"os": "ios"}, "no.such.schema", 1, schema.ReasonSchemaUnknown, ""},
		{map[string]any{"os": "ios"}, "", 0, schema.ReasonSchemaUnknown, ""},
	}
	var evs []e2etest.Event
	for _, e := range events {
		evs = append(evs, e2etest.Event{Schema: e.schema, Version: e.ver, Fields: e.fields})
	}
	body := e2etest.Batch(t, e2etest.NewBatchID(), evs)
	sl := e2etest.Seal(t, s.cfg, e2etest.Inner{Content: body}.Marshal(t))
	rs := e2etest.Results(t, sl.Open(t, s.post(sl.Body, nil)))
	if len(rs) != len(events) {
		t.Fatalf("%d results for %d events", len(rs), len(events))
	}
	for i, e := range events {
		r := rs[i]
		want := "rejected"
		if e.reason == "" {
			want = "accepted"
		}
		if r.Status != want || r.Reason != e.reason || (e.field != "" && r.Field != e.field) {
			t.Errorf("event %d %v: got %+v, want %s %s %s", i, e.fields, r, want, e.reason, e.field)
		}
	}
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM rollups"); n != 1 {
		t.Errorf("%d events stored, want 1", n)
	}
	if strings.Contains(s.logs.String(), "jane.roe") {
		t.Error("a rejected value reached the logs")
	}
}

// TestBadSchemas compiles malformed and identifying schema documents: each
// is refused with an error (a *schema.LintError for a lint finding), none
// panics.
func TestBadSchemas(t *testing.T) {
	base := func(props string) []byte {
		return []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema",
			"x-veil":{"name":"bad.schema","version":1,"granularity":"hour","retention_days":7},
			"type":"object","additionalProperties":false,"properties":{` + props + `}}`)
	}
	cases := []struct {
		name string
		doc  []byte
		lint bool // the error is a *schema.LintError
	}{
		{"empty", nil, false},
		{"not JSON", []byte("{"), false},
		{"JSON array", []byte("[]"), false},
		{"deep nesting", []byte(strings.Repeat("[", 100000) + strings.Repeat("]", 100000)), false},
		{"no x-veil", []byte(`{"type":"object","properties":{"os":{"enum":["a"],"x-veil-role":"dimension"}}}`), true},
		{"unbounded string", base(`"os":{"type":"string","x-veil-role":"dimension"}`), true},
		{"long maxLength", base(`"os":{"type":"string","pattern":"^a+$","maxLength":4096,"x-veil-role":"dimension"}`), true},
		{"identifying name", base(`"email":{"enum":["a"],"x-veil-role":"dimension"}`), true},
		{"ip name", base(`"client_ip":{"enum":["a"],"x-veil-role":"dimension"}`), true},
		{"nested object", base(`"os":{"type":"object","x-veil-role":"dimension"}`), true},
		{"no role", base(`"os":{"enum":["a"]}`), true},
		{"remote ref", base(`"os":{"$ref":"https://example.com/s.json","x-veil-role":"dimension"}`), true},
		{"additional properties allowed", []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema",
			"x-veil":{"name":"bad.schema","version":1,"granularity":"hour","retention_days":7},
			"type":"object","properties":{"os":{"enum":["a"],"x-veil-role":"dimension"}}}`), true},
		{"bad granularity", []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema",
			"x-veil":{"name":"bad.schema","version":1,"granularity":"second","retention_days":7},
			"type":"object","additionalProperties":false,"properties":{"os":{"enum":["a"],"x-veil-role":"dimension"}}}`), true},
		{"version zero", []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema",
			"x-veil":{"name":"bad.schema","version":0,"granularity":"hour","retention_days":7},
			"type":"object","additionalProperties":false,"properties":{"os":{"enum":["a"],"x-veil-role":"dimension"}}}`), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, err := schema.Compile(c.doc)
			if err == nil {
				t.Fatalf("compiled: %+v", sc)
			}
			var le *schema.LintError
			if c.lint && !errors.As(err, &le) {
				t.Errorf("error %T %v, want *schema.LintError", err, err)
			}
		})
	}
	if _, err := schema.Compile(readFile(t, "testdata/fault.event.json")); err != nil {
		t.Fatalf("the test schema itself: %v", err)
	}
}

// TestReplayedBytes replays one encapsulated request's exact bytes, as a
// relay could: the replay is refused (answered duplicate, the enc hash is
// kept for the replay window) and the batch is stored and counted once.
func TestReplayedBytes(t *testing.T) {
	s := newInproc(t)
	evs := []ev{seqEv("ios", 1), seqEv("ios", 2), seqEv("android", 3)}
	id := e2etest.NewBatchID()
	sl := e2etest.Seal(t, s.cfg, e2etest.Inner{Content: batchJSON(id, evs)}.Marshal(t))
	if st := statuses(e2etest.Results(t, sl.Open(t, s.post(sl.Body, nil)))); st["accepted"] != 3 {
		t.Fatalf("first: %v", st)
	}
	for range 3 {
		if st := statuses(e2etest.Results(t, sl.Open(t, s.post(sl.Body, nil)))); st["duplicate"] != 3 {
			t.Fatalf("replay: %v", st)
		}
	}
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM rollups"); n != 3 {
		t.Errorf("%d events stored, want 3", n)
	}
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM ingest_outcomes WHERE outcome = 'accepted'"); n != 3 {
		t.Errorf("%d accepted outcomes counted, want 3", n)
	}
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM rollups"); n != 3 {
		t.Errorf("rollups count %d events, want 3", n)
	}

	// The same batch_id re-encapsulated (a retry, new enc and Date) is a
	// duplicate too.
	retry := e2etest.Seal(t, s.cfg, e2etest.Inner{Content: batchJSON(id, evs)}.Marshal(t))
	if st := statuses(e2etest.Results(t, retry.Open(t, s.post(retry.Body, nil)))); st["duplicate"] != 3 {
		t.Fatalf("retry: %v", st)
	}
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM rollups"); n != 3 {
		t.Errorf("%d events stored after the retry, want 3", n)
	}
}

// TestOtherHost names another host in the inner request — the admin
// listener, an outside address: it still reaches only ingest.
func TestOtherHost(t *testing.T) {
	s := newInproc(t)
	for i, host := range []string{"127.0.0.1:8081", "evil.example", "[::1]:22", "localhost"} {
		sl := e2etest.Seal(t, s.cfg, e2etest.Inner{Authority: host, Content: batchJSON(e2etest.NewBatchID(), []ev{seqEv("ios", int64(i))})}.Marshal(t))
		if st := statuses(e2etest.Results(t, sl.Open(t, s.post(sl.Body, nil)))); st["accepted"] != 1 {
			t.Errorf("authority %s: %v", host, st)
		}
	}
	if n := count(t, s.db, "SELECT coalesce(sum(count), 0)::bigint FROM rollups"); n != 4 {
		t.Errorf("%d events stored, want 4", n)
	}
}

// rawRequest hand-encodes a known-length Binary HTTP request (RFC 9292
// §3.1), so that control data the bhttp encoder refuses can be sent.
func rawRequest(method, path string, date time.Time, content []byte) []byte {
	b := []byte{0}
	str := func(v string) { b = appendVarint(b, uint64(len(v))); b = append(b, v...) }
	str(method)
	str("https")
	str("collector.example")
	str(path)
	var h []byte
	for _, f := range [][2]string{{"content-type", "application/json"}, {"date", date.UTC().Format(http.TimeFormat)}} {
		h = appendVarint(h, uint64(len(f[0])))
		h = append(h, f[0]...)
		h = appendVarint(h, uint64(len(f[1])))
		h = append(h, f[1]...)
	}
	b = appendVarint(b, uint64(len(h)))
	b = append(b, h...)
	b = appendVarint(b, uint64(len(content)))
	b = append(b, content...)
	return append(b, 0) // empty trailer section
}

// appendVarint appends a QUIC variable-length integer (RFC 9000 §16).
func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x80000000)
	}
	return binary.BigEndian.AppendUint64(b, v|0xc000000000000000)
}
