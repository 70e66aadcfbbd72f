package ingest

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Registry finds a registered schema (*schema.Registry). Get fails with an error wrapping
// schema.ErrNotFound when no schema has that name and version; any other
// error means the registry cannot answer now (the request then fails with
// Unavailable).
type Registry interface {
	Get(ctx context.Context, name string, version int) (*schema.Schema, error)
}

// Writer queues a batch for commit (storage.Writer). Submit fails fast with
// storage.ErrOverloaded or storage.ErrUnavailable; otherwise it calls
// b.Done exactly once, after the commit or its failure.
type Writer interface {
	Submit(b *storage.Batch) error
}

// Defaults for the zero Config fields.
const (
	DefaultMaxEvents  = 500
	DefaultRetryAfter = 2 * time.Second
)

// Config configures a Server. Registry and Writer are required; the zero
// value of every other field works.
type Config struct {
	Registry Registry
	Writer   Writer
	// Now is the receive clock (nil: time.Now). Only its coarsened value is
	// stored.
	Now func() time.Time
	// MaxEvents bounds the events of one batch (0: DefaultMaxEvents); a
	// longer batch fails whole with batch_too_large.
	MaxEvents int
	// MaxBytes bounds a gRPC request's protobuf size (0: no bound here).
	// The transport bounds the body first: the gateway's MaxRequestBytes,
	// Handler's maxBytes, gRPC's MaxRecvMsgSize.
	MaxBytes int
	// RetryAfter is the delay a 503 suggests (0: DefaultRetryAfter); it is
	// sent in whole seconds, at least 1.
	RetryAfter time.Duration
	// Logger gets one line per request, counts only (nil: discard).
	Logger *slog.Logger
	// Metrics, if not nil, counts requests and events.
	Metrics *Metrics
}

// Server implements veilv1.IngestServiceServer. It is safe for concurrent
// use.
type Server struct {
	veilv1.UnimplementedIngestServiceServer

	reg        Registry
	w          Writer
	now        func() time.Time
	maxEvents  int
	maxBytes   int
	retryAfter time.Duration
	log        *slog.Logger
	m          *Metrics
}

var _ veilv1.IngestServiceServer = (*Server)(nil)

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil || cfg.Writer == nil {
		return nil, errors.New("ingest: Config.Registry and Config.Writer are required")
	}
	if cfg.MaxEvents < 0 || cfg.MaxBytes < 0 || cfg.RetryAfter < 0 {
		return nil, errors.New("ingest: negative limit in Config")
	}
	s := &Server{
		reg: cfg.Registry, w: cfg.Writer, now: cfg.Now,
		maxEvents:  cmp.Or(cfg.MaxEvents, DefaultMaxEvents),
		maxBytes:   cfg.MaxBytes,
		retryAfter: cmp.Or(cfg.RetryAfter, DefaultRetryAfter),
		log:        cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		m:          cfg.Metrics,
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Event statuses of an EventResult.
const (
	StatusAccepted  = "accepted"
	StatusRejected  = "rejected"
	StatusDuplicate = "duplicate"
)

// batchKeyLen is the decoded size of a batch_id: 128 random bits.
const batchKeyLen = 16

// decodeBatchID decodes the base64url (RFC 4648 §5) batch_id, unpadded or
// padded, in its one canonical spelling.
func decodeBatchID(id string) ([]byte, bool) {
	enc := base64.RawURLEncoding.Strict()
	if len(id) == 24 && id[22:] == "==" {
		id = id[:22]
	}
	if len(id) != 22 {
		return nil, false
	}
	key, err := enc.DecodeString(id)
	if err != nil || len(key) != batchKeyLen {
		return nil, false
	}
	return key, true
}

type schemaKey struct {
	name    string
	version int32
}

type schemaEntry struct {
	s        *schema.Schema // nil: unknown (or disabled)
	disabled bool           // registered, but disabled by an operator
	err      error          // the registry failed
}

// outcomeCounter counts outcomes by key. Events of a batch mostly share
// one key (same schema, accepted), so a run of equal keys is counted
// without hashing the key for each event.
type outcomeCounter struct {
	m    map[outcomeKey]int64
	last outcomeKey
	run  int64
}

func (c *outcomeCounter) add(k outcomeKey) {
	if c.run > 0 && k == c.last {
		c.run++
		return
	}
	c.flush()
	c.last, c.run = k, 1
}

func (c *outcomeCounter) flush() {
	if c.run > 0 {
		c.m[c.last] += c.run
		c.run = 0
	}
}

// counts returns every count.
func (c *outcomeCounter) counts() map[outcomeKey]int64 {
	c.flush()
	return c.m
}

// outcomeKey groups the outcome counts of one request.
type outcomeKey struct {
	bucket  time.Time
	schema  string
	version int
	outcome string
	reason  string
}

// SubmitEvents validates the batch, hands its accepted records to the
// writer and answers one result per event, in order, after the commit.
// It is IngestService over gRPC; the inner HTTP API (Handler) decodes its
// JSON straight into the checker's shape and shares everything after.
func (s *Server) SubmitEvents(ctx context.Context, req *veilv1.SubmitEventsRequest) (*veilv1.SubmitEventsResponse, error) {
	start := time.Now()
	size := 0
	if s.maxBytes > 0 {
		size = proto.Size(req)
	}
	var b batchRequest
	batchFromProto(req, &b)
	results, rr, err := s.submit(ctx, &b, size)
	s.observe(ctx, start, len(b.events), rr)
	if err != nil {
		return nil, err
	}
	resp := &veilv1.SubmitEventsResponse{Results: make([]*veilv1.EventResult, len(results))}
	backing := make([]veilv1.EventResult, len(results))
	indexes := make([]int32, len(results))
	for i, r := range results {
		pr := &backing[i]
		indexes[i] = int32(i)
		pr.Index, pr.Status, pr.Reason, pr.Field, pr.Pointer = &indexes[i], r.status, r.reason, r.field, r.pointer
		resp.Results[i] = pr
	}
	return resp, nil
}

// batchFromProto reads req into b: each Struct value as the checker's
// Field (a number as its shortest decimal text).
func batchFromProto(req *veilv1.SubmitEventsRequest, b *batchRequest) {
	*b = batchRequest{batchID: req.GetBatchId(), events: make([]eventIn, len(req.GetEvents()))}
	n := 0
	for _, ev := range req.GetEvents() {
		n += len(ev.GetFields().GetFields())
	}
	b.fields = make([]schema.Field, 0, n)
	for i, ev := range req.GetEvents() {
		start := len(b.fields)
		for name, v := range ev.GetFields().GetFields() {
			f := schema.Field{Name: name}
			switch k := v.GetKind().(type) {
			case *structpb.Value_BoolValue:
				f.Type, f.Bool = schema.TypeBool, k.BoolValue
			case *structpb.Value_StringValue:
				f.Type, f.Text = schema.TypeString, k.StringValue
			case *structpb.Value_NumberValue:
				f.Type = schema.TypeNumber
				if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
					f.Text = "NaN" // no JSON number: field_type
				} else {
					f.Text = strconv.FormatFloat(k.NumberValue, 'g', -1, 64)
				}
			case *structpb.Value_StructValue:
				f.Type = schema.TypeObject
			case *structpb.Value_ListValue:
				f.Type = schema.TypeArray
			}
			b.fields = append(b.fields, f)
		}
		b.events[i] = eventIn{schema: ev.GetSchema(), version: ev.GetVersion(), fields: b.fields[start:len(b.fields):len(b.fields)]}
	}
}

// requestResult is a request's outcome for the log line and the metrics.
type requestResult struct {
	result string // a Result* constant
	counts eventCounts
	// reasons counts the rejections of a committed request by reason code.
	reasons map[string]int
}

type eventCounts struct{ accepted, rejected, duplicate int }

// submit is SubmitEvents on a decoded batch; size is the request's size
// to hold to Config.MaxBytes (0: already bounded).
func (s *Server) submit(ctx context.Context, b *batchRequest, size int) ([]eventResult, requestResult, error) {
	key, ok := decodeBatchID(b.batchID)
	if !ok {
		return nil, requestResult{result: ResultBatchInvalid},
			newError(errBatchInvalid, "batch_id must be the base64url form of 16 random bytes")
	}
	events := b.events
	if len(events) > s.maxEvents {
		return nil, requestResult{result: ResultBatchTooLarge},
			newError(errBatchTooLarge, fmt.Sprintf("%d events, at most %d per batch", len(events), s.maxEvents))
	}
	if s.maxBytes > 0 && size > s.maxBytes {
		return nil, requestResult{result: ResultBatchTooLarge},
			newError(errBatchTooLarge, fmt.Sprintf("batch of %d bytes, at most %d", size, s.maxBytes))
	}
	results := make([]eventResult, len(events))
	if len(events) == 0 {
		return results, requestResult{result: ResultCommitted}, nil
	}

	now := s.now().UTC()
	hour := now.Truncate(time.Hour)
	schemas := make(map[schemaKey]schemaEntry, 4)
	oc := outcomeCounter{m: make(map[outcomeKey]int64, 8)}
	var lastKey schemaKey
	var lastEnt schemaEntry
	records := make([]storage.Record, 0, len(events))
	var counts eventCounts

	for i, ev := range events {
		// A caller that gave up gets no more work done for it.
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, requestResult{result: ResultCanceled, counts: counts}, contextError(ctxErr)
		}
		r := &results[i]

		sk := schemaKey{ev.schema, ev.version}
		var ent schemaEntry
		if i > 0 && sk == lastKey {
			// Most batches name one schema: no lookup per event.
			ent = lastEnt
		} else {
			var seen bool
			ent, seen = schemas[sk]
			if !seen {
				ent = s.lookup(ctx, sk)
				schemas[sk] = ent
			}
			lastKey, lastEnt = sk, ent
		}
		if ent.err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, requestResult{result: ResultCanceled}, contextError(ctxErr)
			}
			s.log.LogAttrs(ctx, slog.LevelError, "ingest: schema registry failed",
				slog.String("error_kind", errorKind(ent.err)))
			return nil, requestResult{result: ResultUnavailable}, s.retryError(ctx, errUnavailable)
		}
		if ent.disabled {
			// A registered name, not a client's value: counted under it.
			r.status, r.reason = StatusRejected, schema.ReasonSchemaDisabled
			oc.add(outcomeKey{hour, sk.name, int(sk.version), StatusRejected, schema.ReasonSchemaDisabled})
			counts.rejected++
			continue
		}
		sc := ent.s
		if sc == nil {
			// The name a client sent for an unknown schema may itself be a
			// value: count it under no name at all.
			r.status, r.reason = StatusRejected, schema.ReasonSchemaUnknown
			oc.add(outcomeKey{hour, "", 0, StatusRejected, schema.ReasonSchemaUnknown})
			counts.rejected++
			continue
		}
		bucket := coarsen(now, sc.Granularity)
		dims, measures, rej := sc.CheckSplit(ev.fields)
		if rej != nil {
			r.status, r.reason, r.field, r.pointer = StatusRejected, rej.Reason, rej.Field, rej.Pointer
			oc.add(outcomeKey{bucket, sc.Name, sc.Version, StatusRejected, rej.Reason})
			counts.rejected++
			continue
		}
		r.status = StatusAccepted
		oc.add(outcomeKey{bucket, sc.Name, sc.Version, StatusAccepted, ""})
		counts.accepted++
		records = append(records, storage.Record{
			Bucket: bucket, Schema: sc.Name, Version: sc.Version,
			Dimensions: dims, Measures: measures,
		})
	}

	batch := &storage.Batch{
		Records:  records,
		Outcomes: outcomeCounts(oc.counts()),
		BatchKey: key,
		EncHash:  encHashFrom(ctx),
	}
	st, err := s.commit(ctx, batch)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, requestResult{result: ResultCanceled, counts: counts}, contextError(ctxErr)
		}
		switch {
		case errors.Is(err, storage.ErrOverloaded):
			return nil, requestResult{result: ResultOverloaded, counts: counts}, s.retryError(ctx, errOverloaded)
		case errors.Is(err, storage.ErrInvalidRecord):
			// A record ingest built and the writer refused: a bug, not
			// something a retry fixes.
			s.log.LogAttrs(ctx, slog.LevelError, "ingest: writer refused a record",
				slog.String("error_kind", errorKind(err)))
			return nil, requestResult{result: ResultInternal, counts: counts},
				newError(errInternal, "the batch could not be stored")
		case contentError(err):
			// The database refused the batch for what it holds: a retry
			// of the same batch fails the same way.
			s.log.LogAttrs(ctx, slog.LevelError, "ingest: database refused the batch's content",
				slog.String("error_kind", errorKind(err)))
			return nil, requestResult{result: ResultBatchInvalid, counts: counts},
				newError(errBatchInvalid, "the database refused a value of this batch; change the batch rather than retry it")
		}
		// Unavailable, closed (shutting down) or a failed commit: nothing
		// of the batch is stored, and a retry may succeed.
		s.log.LogAttrs(ctx, slog.LevelError, "ingest: batch not committed",
			slog.String("error_kind", errorKind(err)))
		return nil, requestResult{result: ResultUnavailable, counts: counts}, s.retryError(ctx, errUnavailable)
	}
	reasons := make(map[string]int, 4)
	for k, n := range oc.m {
		if k.outcome == StatusRejected {
			reasons[k.reason] += int(n)
		}
	}
	if st == storage.StatusDuplicate {
		for i := range results {
			if results[i].status == StatusAccepted {
				results[i].status, results[i].reason = StatusDuplicate, schema.ReasonDuplicate
			}
		}
		counts.duplicate, counts.accepted = counts.accepted, 0
		return results, requestResult{result: ResultDuplicate, counts: counts, reasons: reasons}, nil
	}
	return results, requestResult{result: ResultCommitted, counts: counts, reasons: reasons}, nil
}

// contentError reports a database error caused by the data it was given
// rather than by the database's state: SQLSTATE class 22, data exception
// (PostgreSQL appendix A), such as 22P05 for a NUL in text or jsonb. The
// SQLState method is pgconn.PgError's; matching on it keeps pgx out of this
// package.
func contentError(err error) bool {
	var se interface{ SQLState() string }
	return errors.As(err, &se) && strings.HasPrefix(se.SQLState(), "22")
}

// lookup asks the registry for a schema, turning "not registered" into an
// entry without schema. Names and versions that cannot be registered are
// unknown without asking.
func (s *Server) lookup(ctx context.Context, k schemaKey) schemaEntry {
	if k.name == "" || k.version <= 0 {
		return schemaEntry{}
	}
	sc, err := s.reg.Get(ctx, k.name, int(k.version))
	switch {
	case errors.Is(err, schema.ErrNotFound):
		return schemaEntry{}
	case errors.Is(err, schema.ErrDisabled):
		return schemaEntry{disabled: true}
	case err != nil:
		return schemaEntry{err: err}
	case sc == nil:
		return schemaEntry{}
	}
	return schemaEntry{s: sc}
}

// commit submits b and waits for its Done. When ctx ends first it returns
// ctx's error; the writer may still commit b, and a retry of the batch then
// answers duplicate.
func (s *Server) commit(ctx context.Context, b *storage.Batch) (storage.Status, error) {
	type done struct {
		st  storage.Status
		err error
	}
	ch := make(chan done, 1) // Done must not block the writer
	b.Done = func(st storage.Status, err error) { ch <- done{st, err} }
	if err := s.w.Submit(b); err != nil {
		return 0, err
	}
	select {
	case d := <-ch:
		if d.err == nil && d.st != storage.StatusCommitted && d.st != storage.StatusDuplicate {
			return 0, fmt.Errorf("ingest: writer reported %v", d.st)
		}
		return d.st, d.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// coarsen truncates the receive time t (UTC) to a schema's granularity:
// the hour by default, the UTC day for "day". An unknown granularity gets
// the coarser bucket.
func coarsen(t time.Time, granularity string) time.Time {
	switch granularity {
	case "", schema.GranularityHour:
		return t.Truncate(time.Hour)
	default:
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
}

func outcomeCounts(m map[outcomeKey]int64) []storage.OutcomeCount {
	out := make([]storage.OutcomeCount, 0, len(m))
	for k, n := range m {
		out = append(out, storage.OutcomeCount{
			Bucket: k.bucket, Schema: k.schema, Version: k.version,
			Outcome: k.outcome, Reason: k.reason, Count: n,
		})
	}
	// A fixed order keeps the writer's upserts in one lock order.
	slices.SortFunc(out, func(a, b storage.OutcomeCount) int {
		return cmp.Or(a.Bucket.Compare(b.Bucket), cmp.Compare(a.Schema, b.Schema),
			cmp.Compare(a.Version, b.Version), cmp.Compare(a.Outcome, b.Outcome),
			cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// observe writes the request's log line and metrics: counts, a result from
// a closed set and a duration, nothing the client sent.
func (s *Server) observe(ctx context.Context, start time.Time, events int, rr requestResult) {
	d := time.Since(start)
	s.m.observe(rr, d)
	s.log.LogAttrs(ctx, slog.LevelInfo, "ingest batch",
		slog.String("result", rr.result),
		slog.Int("events", events),
		slog.Int("accepted", rr.counts.accepted),
		slog.Int("rejected", rr.counts.rejected),
		slog.Int("duplicate", rr.counts.duplicate),
		slog.Duration("duration", d))
}
