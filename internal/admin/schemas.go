package admin

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/veil-telemetry/veil/internal/problem"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// schemaService implements veilv1.SchemaServiceServer.
type schemaService struct {
	veilv1.UnimplementedSchemaServiceServer
	s    *Server
	meta schemaMetaCache
}

// canonicalDocument encodes a document the same way every time (sorted
// object members, shortest numbers), so registering the same document
// twice stores the same bytes and is recognised as a no-op.
func canonicalDocument(doc *structpb.Struct) ([]byte, error) {
	return json.Marshal(doc.AsMap())
}

func (ss *schemaService) RegisterSchema(ctx context.Context, req *veilv1.RegisterSchemaRequest) (*veilv1.RegisterSchemaResponse, error) {
	if req.GetDocument() == nil {
		return nil, problem.Errorf(problem.Invalid, "document is required")
	}
	// Over REST the document's numbers are kept as they were sent
	// (exactDocument); a gRPC client's Struct holds float64 numbers only.
	doc, exact := exactDocumentFrom(ctx)
	if !exact {
		var err error
		if doc, err = canonicalDocument(req.GetDocument()); err != nil {
			return nil, problem.Errorf(problem.Invalid, "document is not encodable as JSON")
		}
	}
	sch, err := schema.Compile(doc)
	if err != nil {
		var le *schema.LintError
		if errors.As(err, &le) {
			e := &problem.Error{Kind: problem.Invalid, Message: "schema refused: see findings"}
			for _, f := range le.Findings {
				e.Findings = append(e.Findings, problem.Finding{Property: f.Property, Rule: f.Rule, Message: f.Message})
			}
			return nil, e
		}
		return nil, &problem.Error{Kind: problem.Invalid, Message: "schema refused", Err: err}
	}
	if err := ss.s.audit(ctx, auditRegisterSchema, schemaTarget(sch.Name, int32(sch.Version))); err != nil {
		return nil, err
	}
	created, err := ss.s.cfg.DB.PutSchema(ctx, storage.SchemaRecord{Name: sch.Name, Version: sch.Version, Document: doc})
	if err != nil {
		return nil, storageError(err)
	}
	if ss.s.cfg.SchemaRegistered != nil {
		ss.s.cfg.SchemaRegistered(sch.Name, sch.Version)
	}
	if created {
		ss.s.log.InfoContext(ctx, "registered schema", "schema", sch.Name, "version", sch.Version)
	}
	rec, err := ss.s.cfg.DB.GetSchema(ctx, sch.Name, sch.Version)
	if err != nil {
		return nil, storageError(err)
	}
	out, err := ss.schemaProto(rec)
	if err != nil {
		return nil, err
	}
	return &veilv1.RegisterSchemaResponse{Schema: out, Created: created}, nil
}

// Page sizes of ListSchemas.
const (
	defaultSchemaPage = 100
	maxSchemaPage     = 500
)

func (ss *schemaService) ListSchemas(ctx context.Context, req *veilv1.ListSchemasRequest) (*veilv1.ListSchemasResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > maxSchemaPage:
		return nil, problem.Errorf(problem.Invalid, "page_size must be 0 to %d", maxSchemaPage)
	case size == 0:
		size = defaultSchemaPage
	}
	var after schemaKey
	if t := req.GetPageToken(); t != "" {
		var ok bool
		if after, ok = parsePageToken(t); !ok {
			return nil, problem.Errorf(problem.Invalid, "page_token is not one this server issued: pass a next_page_token unchanged, or none for the first page")
		}
	}
	// One row more than the page tells whether another page follows.
	recs, err := ss.s.cfg.DB.ListSchemasAfter(ctx, after.name, after.version, size+1)
	if err != nil {
		return nil, storageError(err)
	}
	resp := &veilv1.ListSchemasResponse{}
	if len(recs) > size {
		recs = recs[:size]
		last := recs[size-1]
		resp.NextPageToken = pageToken(schemaKey{last.Name, last.Version})
	}
	for _, r := range recs {
		p, err := ss.schemaProto(r)
		if err != nil {
			return nil, err
		}
		resp.Schemas = append(resp.Schemas, p)
	}
	return resp, nil
}

func (ss *schemaService) GetSchema(ctx context.Context, req *veilv1.GetSchemaRequest) (*veilv1.Schema, error) {
	if req.GetName() == "" || req.GetVersion() <= 0 {
		return nil, problem.Errorf(problem.Invalid, "name and a positive version are required")
	}
	rec, err := ss.s.cfg.DB.GetSchema(ctx, req.GetName(), int(req.GetVersion()))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, problem.Errorf(problem.NotFound, "no schema %s version %d", req.GetName(), req.GetVersion())
	}
	if err != nil {
		return nil, storageError(err)
	}
	return ss.schemaProto(rec)
}

// schemaProto describes a stored schema, its metadata from the cache.
func (ss *schemaService) schemaProto(rec storage.SchemaRecord) (*veilv1.Schema, error) {
	meta, err := ss.meta.get(rec)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Document, &m); err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	doc, err := structpb.NewStruct(m)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	return &veilv1.Schema{
		Name:          rec.Name,
		Version:       int32(rec.Version),
		Document:      doc,
		CreateTime:    timestamppb.New(rec.CreatedAt),
		Granularity:   meta.granularity,
		RetentionDays: int32(meta.retentionDays),
		Dimensions:    slices.Clone(meta.dimensions),
		Measures:      slices.Clone(meta.measures),
		Disabled:      rec.Disabled,
	}, nil
}

func (ss *schemaService) DisableSchema(ctx context.Context, req *veilv1.DisableSchemaRequest) (*veilv1.Schema, error) {
	return ss.setDisabled(ctx, req.GetName(), req.GetVersion(), true)
}

func (ss *schemaService) EnableSchema(ctx context.Context, req *veilv1.EnableSchemaRequest) (*veilv1.Schema, error) {
	return ss.setDisabled(ctx, req.GetName(), req.GetVersion(), false)
}

// setDisabled disables or enables a schema version. This process's ingest
// refuses or accepts its events at once (SchemaDisabledChanged); other
// replicas follow at their next poll (see RunDisabledPoll).
func (ss *schemaService) setDisabled(ctx context.Context, name string, version int32, disabled bool) (*veilv1.Schema, error) {
	if name == "" || version <= 0 {
		return nil, problem.Errorf(problem.Invalid, "name and a positive version are required")
	}
	if _, err := ss.s.cfg.DB.GetSchema(ctx, name, int(version)); errors.Is(err, storage.ErrNotFound) {
		return nil, problem.Errorf(problem.NotFound, "no schema %s version %d", name, version)
	} else if err != nil {
		return nil, storageError(err)
	}
	action := auditEnableSchema
	if disabled {
		action = auditDisableSchema
	}
	if err := ss.s.audit(ctx, action, schemaTarget(name, version)); err != nil {
		return nil, err
	}
	if _, err := ss.s.cfg.DB.SetSchemaDisabled(ctx, name, int(version), disabled); err != nil {
		return nil, storageError(err)
	}
	if err := ss.s.syncDisabled(ctx); err != nil {
		return nil, storageError(err)
	}
	rec, err := ss.s.cfg.DB.GetSchema(ctx, name, int(version))
	if err != nil {
		return nil, storageError(err)
	}
	return ss.schemaProto(rec)
}

// syncDisabled hands the disabled schema versions to SchemasDisabled.
func (s *Server) syncDisabled(ctx context.Context) error {
	if s.cfg.SchemasDisabled == nil {
		return nil
	}
	keys, err := s.cfg.DB.DisabledSchemas(ctx)
	if err != nil {
		return err
	}
	vs := make([]schema.Version, len(keys))
	for i, k := range keys {
		vs[i] = schema.Version{Name: k.Name, Version: k.Version}
	}
	s.cfg.SchemasDisabled(vs)
	return nil
}

// DisabledPollInterval is how often RunDisabledPoll rereads the disabled
// schema versions: the longest another replica keeps accepting events of
// a version disabled through this one.
const DisabledPollInterval = 10 * time.Second

// RunDisabledPoll keeps SchemasDisabled current with changes made through
// other replicas until ctx ends: once at once, then every
// DisabledPollInterval. A failed read keeps the last set and is logged.
func (s *Server) RunDisabledPoll(ctx context.Context) {
	t := time.NewTicker(DisabledPollInterval)
	defer t.Stop()
	for {
		if err := s.syncDisabled(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reading disabled schemas failed; keeping the last set", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
