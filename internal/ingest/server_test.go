package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// testBatchID is base64url of the bytes 0..15.
const testBatchID = "AAECAwQFBgcICQoLDA0ODw"

var testBatchKey = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// fixedNow is the receive clock of the tests: 13:47:12.345 UTC.
var fixedNow = time.Date(2026, 3, 14, 13, 47, 12, 345000000, time.UTC)

// fakeRegistry serves compiled test schemas; err, when set, is an outage.
type fakeRegistry struct {
	schemas map[string]*schema.Schema
	err     error
	calls   int
	mu      sync.Mutex
}

func (r *fakeRegistry) Get(ctx context.Context, name string, version int) (*schema.Schema, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.err != nil {
		return nil, r.err
	}
	if s, ok := r.schemas[fmt.Sprintf("%s/%d", name, version)]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("lookup %w", schema.ErrNotFound)
}

func loadSchema(t testing.TB, file string) *schema.Schema {
	t.Helper()
	doc, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Compile(doc)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return s
}

func testRegistry(t testing.TB) *fakeRegistry {
	t.Helper()
	r := &fakeRegistry{schemas: map[string]*schema.Schema{}}
	for _, f := range []string{"app.launch.v1.json", "app.crash.v2.json"} {
		s := loadSchema(t, f)
		r.schemas[fmt.Sprintf("%s/%d", s.Name, s.Version)] = s
	}
	return r
}

// fakeWriter implements Writer. mode chooses what happens to a batch.
type fakeWriter struct {
	mode      string // "commit" (default), "duplicate", "overload", "unavailable", "fail", "hang", "late"
	mu        sync.Mutex
	batches   []*storage.Batch
	committed chan *storage.Batch

	// For "late": submitted receives each batch as it is submitted, and
	// the batch commits when release is closed.
	submitted chan *storage.Batch
	release   chan struct{}
}

func (w *fakeWriter) Submit(b *storage.Batch) error {
	switch w.mode {
	case "overload":
		return storage.ErrOverloaded
	case "unavailable":
		return storage.ErrUnavailable
	}
	w.mu.Lock()
	w.batches = append(w.batches, b)
	w.mu.Unlock()
	switch w.mode {
	case "duplicate":
		go b.Done(storage.StatusDuplicate, nil)
	case "fail":
		go b.Done(0, errors.New("storage: COPY failed: value \"secret@example.com\""))
	case "hang":
	case "late":
		// Commits after the caller gave up.
		w.submitted <- b
		go func() {
			<-w.release
			b.Done(storage.StatusCommitted, nil)
			if w.committed != nil {
				w.committed <- b
			}
		}()
	default:
		go b.Done(storage.StatusCommitted, nil)
	}
	return nil
}

func (w *fakeWriter) last(t *testing.T) *storage.Batch {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.batches) == 0 {
		t.Fatal("no batch submitted")
	}
	return w.batches[len(w.batches)-1]
}

func newTestServer(t testing.TB, w Writer, logs *bytes.Buffer, m *Metrics) *Server {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(Config{
		Registry: testRegistry(t), Writer: w,
		Now:    func() time.Time { return fixedNow },
		Logger: log, Metrics: m, MaxEvents: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func event(t testing.TB, name string, version int32, fields map[string]any) *veilv1.Event {
	t.Helper()
	var st *structpb.Struct
	if fields != nil {
		var err error
		if st, err = structpb.NewStruct(fields); err != nil {
			t.Fatal(err)
		}
	}
	return &veilv1.Event{Schema: name, Version: version, Fields: st}
}

func launch(t testing.TB, fields map[string]any) *veilv1.Event {
	return event(t, "app.launch", 1, fields)
}

type want struct{ status, reason, field string }

func checkResults(t *testing.T, resp *veilv1.SubmitEventsResponse, wants []want) {
	t.Helper()
	if len(resp.GetResults()) != len(wants) {
		t.Fatalf("%d results, want %d: %v", len(resp.GetResults()), len(wants), resp)
	}
	for i, r := range resp.GetResults() {
		if r.Index == nil || int(*r.Index) != i {
			t.Errorf("result %d: index %v", i, r.Index)
		}
		w := wants[i]
		if r.Status != w.status || r.Reason != w.reason || (w.field != "" && r.Field != w.field) {
			t.Errorf("result %d: got %s/%s/%s, want %s/%s/%s", i, r.Status, r.Reason, r.Field, w.status, w.reason, w.field)
		}
	}
}

func TestSubmitEventsOrderAndRecords(t *testing.T) {
	w := &fakeWriter{}
	s := newTestServer(t, w, nil, nil)
	var hash [32]byte
	hash[0], hash[31] = 0xaa, 0xbb
	ctx := WithEncHash(context.Background(), hash)
	resp, err := s.SubmitEvents(ctx, &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: []*veilv1.Event{
		launch(t, map[string]any{"os": "ios", "app_version": "12.4", "locale": "de-DE", "warm": false, "cold_start_ms": 420, "screens": 3}),
		launch(t, map[string]any{"os": "windows"}),
		event(t, "app.crash", 2, map[string]any{"kind": "oom", "count": 2}),
		event(t, "no.such", 1, map[string]any{"x": 1}),
		launch(t, map[string]any{"os": "android", "note": "call +44 20 7946 0958"}),
		launch(t, map[string]any{"os": "android"}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, resp, []want{
		{StatusAccepted, "", ""},
		{StatusRejected, schema.ReasonFieldOutOfRange, "os"},
		{StatusAccepted, "", ""},
		{StatusRejected, schema.ReasonSchemaUnknown, ""},
		{StatusRejected, schema.ReasonIdentifierPhone, "note"},
		{StatusAccepted, "", ""},
	})
	b := w.last(t)
	if !bytes.Equal(b.BatchKey, testBatchKey) {
		t.Errorf("BatchKey %x", b.BatchKey)
	}
	if !bytes.Equal(b.EncHash, hash[:]) {
		t.Errorf("EncHash %x", b.EncHash)
	}
	hour := time.Date(2026, 3, 14, 13, 0, 0, 0, time.UTC)
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	wantRecords := []storage.Record{
		{Bucket: hour, Schema: "app.launch", Version: 1,
			Dimensions: map[string]any{"os": "ios", "app_version": "12.4", "locale": "de-DE", "warm": false},
			Measures:   map[string]float64{"cold_start_ms": 420, "screens": 3}},
		{Bucket: day, Schema: "app.crash", Version: 2,
			Dimensions: map[string]any{"kind": "oom"}, Measures: map[string]float64{"count": 2}},
		{Bucket: hour, Schema: "app.launch", Version: 1,
			Dimensions: map[string]any{"os": "android"}, Measures: map[string]float64{}},
	}
	if got := fmt.Sprint(b.Records); got != fmt.Sprint(wantRecords) {
		t.Errorf("records:\n got %v\nwant %v", got, fmt.Sprint(wantRecords))
	}
	wantOutcomes := []storage.OutcomeCount{
		{Bucket: day, Schema: "app.crash", Version: 2, Outcome: "accepted", Count: 1},
		{Bucket: hour, Schema: "", Version: 0, Outcome: "rejected", Reason: schema.ReasonSchemaUnknown, Count: 1},
		{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "accepted", Count: 2},
		{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "rejected", Reason: schema.ReasonFieldOutOfRange, Count: 1},
		{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "rejected", Reason: schema.ReasonIdentifierPhone, Count: 1},
	}
	if got := fmt.Sprint(b.Outcomes); got != fmt.Sprint(wantOutcomes) {
		t.Errorf("outcomes:\n got %v\nwant %v", got, fmt.Sprint(wantOutcomes))
	}
}

func TestSubmitEventsWithoutEncHash(t *testing.T) {
	w := &fakeWriter{}
	s := newTestServer(t, w, nil, nil)
	if _, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID,
		Events: []*veilv1.Event{launch(t, map[string]any{"os": "ios"})}}); err != nil {
		t.Fatal(err)
	}
	if b := w.last(t); b.EncHash != nil {
		t.Errorf("EncHash %x without WithEncHash", b.EncHash)
	}
}

func TestSubmitEventsEmptyBatch(t *testing.T) {
	w := &fakeWriter{}
	s := newTestServer(t, w, nil, nil)
	resp, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID})
	if err != nil || len(resp.GetResults()) != 0 || len(w.batches) != 0 {
		t.Errorf("empty batch: %v, %v, %d batches", resp, err, len(w.batches))
	}
}

// identifierSamples are values of our own for each detector kind; the test
// uses, per kind, the first that schema.Detect labels with it.
var identifierSamples = map[string][]string{
	schema.KindEmail:      {"reach me: jane.roe@example.org"},
	schema.KindIPv4:       {"peer 203.0.113.77:8443", "203.0.113.77"},
	schema.KindIPv6:       {"2001:db8:85a3::8a2e:370:7334", "[2001:db8::17]:443"},
	schema.KindPhone:      {"+1 415 555 2671", "+44 20 7946 0958"},
	schema.KindCreditCard: {"4111 1111 1111 1111", "5500-0000-0000-0004"},
	schema.KindIBAN:       {"DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"},
	schema.KindDeviceID:   {"6f1c2a4e-9b3d-4c7a-8e21-5d0f3b9a7c64", "EA7583CD-A667-48BC-B806-42ECB2B48606"},
	schema.KindMAC:        {"3c:22:fb:9a:10:4e", "3C-22-FB-9A-10-4E"},
	schema.KindIMEI:       {"490154203237518", "35-209900-176148-1"},
	schema.KindSSN:        {"SSN 536-22-8410", "536-22-8410"},
	schema.KindGeo:        {"52.52437, 13.41053", "loc 40.7128,-74.0060"},
	schema.KindJWT:        {"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"},
	schema.KindToken:      {"Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "Authorization: Basic dXNlcjpwYXNzd29yZA=="},
	schema.KindURL:        {"https://shop.example/cart?user=1234&ref=mail", "https://bob:pw@example.com/"},
}

func identifierSample(t testing.TB, kind string) string {
	t.Helper()
	for _, v := range identifierSamples[kind] {
		if k, ok := schema.Detect(v); ok && k == kind {
			return v
		}
	}
	t.Fatalf("no sample value that schema.Detect labels %s", kind)
	return ""
}

// TestReasonCodes covers every reason code SubmitEvents can answer, each
// per event or per request.
func TestReasonCodes(t *testing.T) {
	type tc struct {
		name   string
		event  *veilv1.Event
		reason string
		field  string
	}
	cases := []tc{
		{"schema_unknown/name", event(t, "app.nope", 1, map[string]any{"os": "ios"}), schema.ReasonSchemaUnknown, ""},
		{"schema_unknown/version", event(t, "app.launch", 7, map[string]any{"os": "ios"}), schema.ReasonSchemaUnknown, ""},
		{"schema_unknown/zero", event(t, "app.launch", 0, map[string]any{"os": "ios"}), schema.ReasonSchemaUnknown, ""},
		{"schema_unknown/empty", event(t, "", 1, nil), schema.ReasonSchemaUnknown, ""},
		{"field_unknown", launch(t, map[string]any{"os": "ios", "color": "red"}), schema.ReasonFieldUnknown, "color"},
		{"field_missing", launch(t, map[string]any{"warm": true}), schema.ReasonFieldMissing, "os"},
		{"field_missing/no fields", launch(t, nil), schema.ReasonFieldMissing, "os"},
		{"field_type/string for int", launch(t, map[string]any{"os": "ios", "screens": "3"}), schema.ReasonFieldType, "screens"},
		{"field_type/fraction for int", launch(t, map[string]any{"os": "ios", "screens": 2.5}), schema.ReasonFieldType, "screens"},
		{"field_type/null", launch(t, map[string]any{"os": "ios", "warm": nil}), schema.ReasonFieldType, "warm"},
		{"field_type/object", launch(t, map[string]any{"os": "ios", "warm": map[string]any{"a": 1}}), schema.ReasonFieldType, "warm"},
		{"field_out_of_range/max", launch(t, map[string]any{"os": "ios", "cold_start_ms": 600001}), schema.ReasonFieldOutOfRange, "cold_start_ms"},
		{"field_out_of_range/enum", launch(t, map[string]any{"os": "beos"}), schema.ReasonFieldOutOfRange, "os"},
		{"field_out_of_range/pattern", launch(t, map[string]any{"os": "ios", "app_version": "x"}), schema.ReasonFieldOutOfRange, "app_version"},
	}
	for _, k := range schema.Kinds() {
		cases = append(cases, tc{"identifier_" + k,
			launch(t, map[string]any{"os": "ios", "note": identifierSample(t, k)}), "identifier_" + k, "note"})
	}
	// Undeclared fields are refused before any detector reads them.
	cases = append(cases, tc{"identifier in unknown field",
		launch(t, map[string]any{"os": "ios", "contact": "jane.roe@example.org"}), schema.ReasonFieldUnknown, "contact"})
	// Control characters never reach the writer (PostgreSQL refuses NUL).
	cases = append(cases, tc{"field_control_character",
		launch(t, map[string]any{"os": "ios", "note": "ok\u0000"}), schema.ReasonFieldControlCharacter, "note"})
	// A value longer than its property accepts is refused unread.
	cases = append(cases, tc{"field_out_of_range/too long to read",
		launch(t, map[string]any{"os": "ios", "note": strings.Repeat("a://", 1<<14)}), schema.ReasonFieldOutOfRange, "note"})
	// Over MaxFieldsPerEvent and the schema's 7 properties.
	many := map[string]any{"os": "ios"}
	for i := range 70 {
		many[fmt.Sprintf("f%02d", i)] = i
	}
	cases = append(cases, tc{"field_unknown/too many fields", launch(t, many), schema.ReasonFieldUnknown, "f00"})

	covered := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newTestServer(t, &fakeWriter{}, nil, nil)
			resp, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: []*veilv1.Event{c.event}})
			if err != nil {
				t.Fatal(err)
			}
			checkResults(t, resp, []want{{StatusRejected, c.reason, c.field}})
			if c.field != "" && resp.Results[0].Pointer != "/"+c.field {
				t.Errorf("pointer %q", resp.Results[0].Pointer)
			}
		})
		covered[c.reason] = true
	}

	// Request-level codes.
	s := newTestServer(t, &fakeWriter{}, nil, nil)
	_, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: "short"})
	checkRequestError(t, err, codes.InvalidArgument, schema.ReasonBatchInvalid, 400)
	covered[schema.ReasonBatchInvalid] = true
	events := make([]*veilv1.Event, 11)
	for i := range events {
		events[i] = launch(t, map[string]any{"os": "ios"})
	}
	_, err = s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events})
	checkRequestError(t, err, codes.InvalidArgument, schema.ReasonBatchTooLarge, 413)
	covered[schema.ReasonBatchTooLarge] = true
	dup := newTestServer(t, &fakeWriter{mode: "duplicate"}, nil, nil)
	resp, err := dup.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events[:1]})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, resp, []want{{StatusDuplicate, schema.ReasonDuplicate, ""}})
	covered[schema.ReasonDuplicate] = true

	// A disabled schema version: refused, and nothing reaches the writer.
	reg := testRegistry(t)
	reg.err = fmt.Errorf("lookup %w", schema.ErrDisabled)
	w := &fakeWriter{}
	dis, err := New(Config{Registry: reg, Writer: w, Now: func() time.Time { return fixedNow }, MaxEvents: 10})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = dis.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events[:1]})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, resp, []want{{StatusRejected, schema.ReasonSchemaDisabled, ""}})
	w.mu.Lock()
	for _, b := range w.batches {
		if len(b.Records) != 0 {
			t.Errorf("a disabled schema's event reached the writer: %d records", len(b.Records))
		}
	}
	w.mu.Unlock()
	covered[schema.ReasonSchemaDisabled] = true

	// schema_invalid_event needs a schema keyword no field-level reason
	// covers; the schema package tests it (a linted schema has none).
	covered[schema.ReasonSchemaInvalidEvent] = true
	for _, r := range schema.Reasons() {
		if !covered[r] {
			t.Errorf("reason %s not covered", r)
		}
	}
}

func checkRequestError(t *testing.T, err error, code codes.Code, reason string, httpStatus int) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v %s", code, reason)
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Errorf("error %v: code %v, want %v", err, status.Code(err), code)
	}
	if got := ErrorReason(err); got != reason {
		t.Errorf("ErrorReason %q, want %q", got, reason)
	}
	if got := HTTPStatus(err); got != httpStatus {
		t.Errorf("HTTPStatus %d, want %d", got, httpStatus)
	}
	// The same over the wire: only the status proto travels.
	if got := HTTPStatus(status.ErrorProto(st.Proto())); got != httpStatus {
		t.Errorf("HTTPStatus of the bare status %d, want %d", got, httpStatus)
	}
}

func TestBatchID(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{testBatchID, true},
		{testBatchID + "==", true},
		{"_-_-_-_-_-_-_-_-_-_-_w", true},
		{"", false},
		{"AAECAwQFBgcICQoLDA0ODx", false},   // non-canonical trailing bits
		{"AAECAwQFBgcICQoLDA0O", false},     // 15 bytes
		{"AAECAwQFBgcICQoLDA0ODxA", false},  // 17 bytes
		{"AAECAwQFBgcICQoLDA0ODw=", false},  // bad padding
		{"AAECAwQFBgcICQoLDA0OD+", false},   // std alphabet
		{"AAECAwQFBgcICQoLDA0OD w", false},  // space
		{"AAECAwQFBgcICQoLDA0ODw==", true},  // padded
		{"AAECAwQFBgcICQoLDA0ODw\n", false}, // newline
	} {
		if _, ok := decodeBatchID(c.id); ok != c.ok {
			t.Errorf("decodeBatchID(%q) ok=%v, want %v", c.id, ok, c.ok)
		}
	}
}

func TestCoarsen(t *testing.T) {
	for _, c := range []struct {
		g    string
		want time.Time
	}{
		{"hour", time.Date(2026, 3, 14, 13, 0, 0, 0, time.UTC)},
		{"", time.Date(2026, 3, 14, 13, 0, 0, 0, time.UTC)},
		{"day", time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)},
		{"minute", time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)},
	} {
		if got := coarsen(fixedNow, c.g); !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("coarsen(%s) = %v, want %v", c.g, got, c.want)
		}
	}
}

func TestReceiveTimeIsServerClockInUTC(t *testing.T) {
	w := &fakeWriter{}
	s, err := New(Config{Registry: testRegistry(t), Writer: w,
		Now: func() time.Time { return fixedNow.In(time.FixedZone("X", -11*3600)) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID,
		Events: []*veilv1.Event{event(t, "app.crash", 2, map[string]any{"kind": "anr", "count": 1})}}); err != nil {
		t.Fatal(err)
	}
	got := w.last(t).Records[0].Bucket
	if want := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("bucket %v, want %v", got, want)
	}
}

func TestDuplicateKeepsRejections(t *testing.T) {
	s := newTestServer(t, &fakeWriter{mode: "duplicate"}, nil, nil)
	resp, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: []*veilv1.Event{
		launch(t, map[string]any{"os": "ios"}),
		launch(t, map[string]any{"os": "x"}),
		event(t, "zzz", 1, nil),
		launch(t, map[string]any{"os": "android"}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, resp, []want{
		{StatusDuplicate, schema.ReasonDuplicate, ""},
		{StatusRejected, schema.ReasonFieldOutOfRange, "os"},
		{StatusRejected, schema.ReasonSchemaUnknown, ""},
		{StatusDuplicate, schema.ReasonDuplicate, ""},
	})
}

func TestOverloadAndOutage(t *testing.T) {
	for _, c := range []struct {
		mode   string
		reason string
	}{
		{"overload", ErrorReasonOverloaded},
		{"unavailable", ErrorReasonUnavailable},
		{"fail", ErrorReasonUnavailable},
	} {
		t.Run(c.mode, func(t *testing.T) {
			var logs bytes.Buffer
			s := newTestServer(t, &fakeWriter{mode: c.mode}, &logs, nil)
			resp, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID,
				Events: []*veilv1.Event{launch(t, map[string]any{"os": "ios"})}})
			if resp != nil {
				t.Errorf("answered %v with an error", resp)
			}
			checkRequestError(t, err, codes.Unavailable, c.reason, 503)
			var retry *errdetails.RetryInfo
			for _, d := range status.Convert(err).Details() {
				if r, ok := d.(*errdetails.RetryInfo); ok {
					retry = r
				}
			}
			if retry == nil || retry.RetryDelay.AsDuration() != DefaultRetryAfter {
				t.Errorf("RetryInfo %v, want %v", retry, DefaultRetryAfter)
			}
			if strings.Contains(logs.String(), "secret@example.com") || strings.Contains(err.Error(), "secret") {
				t.Errorf("a writer error's text leaked: %s / %v", logs.String(), err)
			}
		})
	}
	t.Run("registry", func(t *testing.T) {
		reg := testRegistry(t)
		reg.err = errors.New("connection refused")
		s, _ := New(Config{Registry: reg, Writer: &fakeWriter{}})
		_, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID,
			Events: []*veilv1.Event{launch(t, map[string]any{"os": "ios"})}})
		checkRequestError(t, err, codes.Unavailable, ErrorReasonUnavailable, 503)
	})
}

func TestCallerGivesUp(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		s := newTestServer(t, &fakeWriter{mode: "hang"}, nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		resp, err := s.SubmitEvents(ctx, &veilv1.SubmitEventsRequest{BatchId: testBatchID,
			Events: []*veilv1.Event{launch(t, map[string]any{"os": "ios"})}})
		if resp != nil || status.Code(err) != codes.DeadlineExceeded || HTTPStatus(err) != 504 {
			t.Errorf("got %v, %v (HTTP %d)", resp, err, HTTPStatus(err))
		}
	})
	t.Run("canceled, then committed", func(t *testing.T) {
		w := &fakeWriter{mode: "late", committed: make(chan *storage.Batch, 1),
			submitted: make(chan *storage.Batch, 1), release: make(chan struct{})}
		s := newTestServer(t, w, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		// The caller gives up once the batch is with the writer.
		go func() { <-w.submitted; cancel() }()
		resp, err := s.SubmitEvents(ctx, &veilv1.SubmitEventsRequest{BatchId: testBatchID,
			Events: []*veilv1.Event{launch(t, map[string]any{"os": "ios"})}})
		if resp != nil || status.Code(err) != codes.Canceled {
			t.Errorf("got %v, %v", resp, err)
		}
		close(w.release)
		// The writer's late Done must not block or panic.
		select {
		case <-w.committed:
		case <-time.After(5 * time.Second):
			t.Fatal("late commit blocked")
		}
	})
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{Writer: &fakeWriter{}}); err == nil {
		t.Error("no registry accepted")
	}
	if _, err := New(Config{Registry: testRegistry(t)}); err == nil {
		t.Error("no writer accepted")
	}
	if _, err := New(Config{Registry: testRegistry(t), Writer: &fakeWriter{}, MaxEvents: -1}); err == nil {
		t.Error("negative MaxEvents accepted")
	}
	s, err := New(Config{Registry: testRegistry(t), Writer: &fakeWriter{}})
	if err != nil || s.maxEvents != DefaultMaxEvents {
		t.Errorf("defaults: %v %v", s, err)
	}
}

func TestMaxBytes(t *testing.T) {
	s, _ := New(Config{Registry: testRegistry(t), Writer: &fakeWriter{}, MaxBytes: 100})
	events := []*veilv1.Event{launch(t, map[string]any{"os": "ios", "note": strings.Repeat("a", 120)})}
	_, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events})
	checkRequestError(t, err, codes.InvalidArgument, schema.ReasonBatchTooLarge, 413)
}

func TestSchemaLookupOncePerBatch(t *testing.T) {
	reg := testRegistry(t)
	s, _ := New(Config{Registry: reg, Writer: &fakeWriter{}})
	events := slices.Repeat([]*veilv1.Event{launch(t, map[string]any{"os": "ios"}), event(t, "x.y", 1, nil)}, 20)
	if _, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events}); err != nil {
		t.Fatal(err)
	}
	if reg.calls != 2 {
		t.Errorf("%d registry lookups for 2 distinct schemas", reg.calls)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, &fakeWriter{}, nil, m)
	if _, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: []*veilv1.Event{
		launch(t, map[string]any{"os": "ios"}),
		launch(t, map[string]any{"os": "ios", "note": "jane.roe@example.org"}),
		event(t, "jane.roe@example.org", 1, nil),
	}}); err != nil {
		t.Fatal(err)
	}
	_, _ = s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: "jane.roe@example.org"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range metric.GetLabel() {
				name += " " + l.GetName() + "=" + l.GetValue()
				if strings.Contains(l.GetValue(), "jane") || strings.Contains(l.GetValue(), "app.") {
					t.Errorf("label %s=%q holds a value or a schema name", l.GetName(), l.GetValue())
				}
			}
			got[name] = metric.GetCounter().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"veil_ingest_events_total outcome=accepted reason=":                 1,
		"veil_ingest_events_total outcome=rejected reason=identifier_email": 1,
		"veil_ingest_events_total outcome=rejected reason=schema_unknown":   1,
		"veil_ingest_requests_total result=" + ResultBatchInvalid:           1,
		"veil_ingest_requests_total result=" + ResultCommitted:              1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], want, got)
		}
	}
}

// TestRejectedValuesNeverLeave sends identifying values every way a request
// can carry them and searches the logs (debug level), the errors and the
// metrics for them.
func TestRejectedValuesNeverLeave(t *testing.T) {
	const secret = "zqx.leak.4711@example.org"
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, mode := range []string{"commit", "duplicate", "overload", "fail"} {
		s := newTestServer(t, &fakeWriter{mode: mode}, &logs, m)
		for _, req := range []*veilv1.SubmitEventsRequest{
			{BatchId: testBatchID, Events: []*veilv1.Event{
				launch(t, map[string]any{"os": "ios", "note": secret}),
				launch(t, map[string]any{"os": secret}),
				launch(t, map[string]any{"os": "ios", secret: 1}),
				launch(t, map[string]any{"os": "ios", "warm": secret}),
				event(t, secret, 1, map[string]any{"os": "ios"}),
			}},
			{BatchId: secret},
			{BatchId: testBatchID, Events: slices.Repeat([]*veilv1.Event{event(t, secret, 1, nil)}, 11)},
		} {
			resp, err := s.SubmitEvents(context.Background(), req)
			if err != nil {
				errs = append(errs, err.Error(), fmt.Sprint(status.Convert(err).Proto()))
			}
			for _, r := range resp.GetResults() {
				if strings.Contains(r.Field, secret) || strings.Contains(r.Pointer, secret) {
					t.Errorf("answer names the value as a field: %v", r)
				}
			}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, where := range []struct{ name, text string }{
		{"logs", logs.String()}, {"errors", strings.Join(errs, "\n")}, {"metrics", fmt.Sprint(mfs)},
	} {
		for _, v := range []string{secret, "4711", testBatchID} {
			if strings.Contains(where.text, v) {
				t.Errorf("%s hold %q:\n%s", where.name, v, where.text)
			}
		}
	}
	if !strings.Contains(logs.String(), `"rejected":`) {
		t.Errorf("no request log lines: %s", logs.String())
	}
}
