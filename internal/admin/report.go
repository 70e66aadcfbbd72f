package admin

import (
	"bytes"
	"cmp"
	"context"
	"net/http"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/release"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Media types of the generated documents.
const (
	mediaMarkdown = "text/markdown; charset=utf-8"
	mediaHTML     = "text/html; charset=utf-8"
	mediaJSON     = "application/json"
	mediaCSV      = "text/csv; charset=utf-8"
)

// privacyReport generates the report in format (markdown, html, json).
func (s *Server) privacyReport(ctx context.Context, format string) (*veilv1.Document, error) {
	var schemas []*schema.Schema
	name, version := "", 0
	for {
		page, err := s.cfg.DB.ListSchemasAfter(ctx, name, version, 100)
		if err != nil {
			return nil, storageError(err)
		}
		for _, rec := range page {
			sch, err := schema.Compile(rec.Document)
			if err != nil {
				return nil, &problem.Error{Kind: problem.Internal, Err: err}
			}
			schemas = append(schemas, sch)
		}
		if len(page) < 100 {
			break
		}
		name, version = page[len(page)-1].Name, page[len(page)-1].Version
	}
	rep, err := release.BuildReport(release.ReportConfig{
		K: s.cfg.K, KeyRotation: s.cfg.KeyRotate, KeyGrace: s.cfg.KeyGrace,
		KEMs: s.kemNames(), Histograms: s.releases.Histograms(),
		MixerK:      cmp.Or(s.cfg.MixK, storage.DefaultMixK),
		MixInterval: cmp.Or(s.cfg.MixInterval, storage.DefaultMixInterval),
		Relays:      s.cfg.Relays,
	}, schemas)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	switch format {
	case "", "markdown":
		return &veilv1.Document{ContentType: mediaMarkdown, Body: rep.Markdown()}, nil
	case "html":
		return &veilv1.Document{ContentType: mediaHTML, Body: rep.HTML()}, nil
	case "json":
		b, err := rep.JSON()
		if err != nil {
			return nil, &problem.Error{Kind: problem.Internal, Err: err}
		}
		return &veilv1.Document{ContentType: mediaJSON, Body: string(b)}, nil
	}
	return nil, problem.Errorf(problem.Invalid, "format must be markdown, html or json")
}

func (s *Server) kemNames() []string {
	out := make([]string, len(s.kems))
	for i, k := range s.kems {
		out[i] = k.Name()
	}
	return out
}

func (qs *queryService) GetPrivacyReport(ctx context.Context, req *veilv1.GetPrivacyReportRequest) (*veilv1.Document, error) {
	return qs.s.privacyReport(ctx, req.GetFormat())
}

// servePrivacyReport answers GET /v1/privacy-report with the document
// itself, so a browser or curl gets Markdown, HTML or JSON as such.
func (s *Server) servePrivacyReport(w http.ResponseWriter, r *http.Request) {
	doc, err := s.privacyReport(r.Context(), r.URL.Query().Get("format"))
	if err != nil {
		writeRESTProblem(w, r, asError(err))
		return
	}
	w.Header().Set("Content-Type", doc.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(doc.Body))
}

func (qs *queryService) ExportReleases(ctx context.Context, req *veilv1.ExportReleasesRequest) (*veilv1.Document, error) {
	if req.GetSchema() == "" || req.GetVersion() <= 0 {
		return nil, problem.Errorf(problem.Invalid, "schema and a positive version are required")
	}
	if f := req.GetFormat(); f != "" && f != "csv" {
		return nil, problem.Errorf(problem.Invalid, "format must be csv")
	}
	s := qs.s
	rec, err := s.cfg.DB.GetSchema(ctx, req.GetSchema(), int(req.GetVersion()))
	if err != nil {
		return nil, storageError(err)
	}
	plan, err := s.planOf(rec)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	if plan.Mode != schema.ModeDP {
		return nil, problem.Errorf(problem.Invalid, "%s version %d is in exact mode: it has no releases to export", plan.Schema, plan.Version)
	}
	var b bytes.Buffer
	if err := s.releases.Export(ctx, plan, &b); err != nil {
		return nil, storageError(err)
	}
	return &veilv1.Document{ContentType: mediaCSV, Body: b.String()}, nil
}

// privacyReportPage is the dashboard's copy of the privacy report: the
// HTML document, behind the dashboard's sign-in and security headers
// (its styles are inline, which the dashboard's CSP allows).
func (s *Server) privacyReportPage(w http.ResponseWriter, r *http.Request) {
	doc, err := s.privacyReport(r.Context(), "html")
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", doc.ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write([]byte(doc.Body))
}
