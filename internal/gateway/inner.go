package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/ohttp"
)

// allowedInner maps the inner header fields that reach ingest (lowercase,
// as Binary HTTP decodes them) to their canonical form. Everything else —
// cookies, authorization, user agents, forwarding headers, the client's
// Host — is dropped before dispatch.
var allowedInner = map[string]string{
	"content-type":     "Content-Type",
	"content-length":   "Content-Length",
	"content-encoding": "Content-Encoding",
	"date":             "Date",
	"accept":           "Accept",
}

// handleInner decodes the decapsulated Binary HTTP request, checks it,
// dispatches it to the inner handler and returns the Binary HTTP response
// (in ex.out). Whatever goes wrong here is answered inside the
// encapsulation.
func (g *Gateway) handleInner(ctx context.Context, ex *exchange, plain []byte, encHash [32]byte, now time.Time) []byte {
	l := &ex.line
	breq, err := bhttp.UnmarshalRequest(plain)
	if err != nil {
		return g.innerProblem(ex, http.StatusBadRequest, problem.TypeBlank, "Malformed inner request", "malformed_inner", now, false)
	}

	// RFC 9458 §6.5.1: the Date bounds how long a captured request can be
	// replayed; ingest keeps the enc hashes for the same window.
	var date string
	for _, f := range breq.Header {
		if f.Name == "date" {
			date = f.Value
			break
		}
	}
	t, err := http.ParseTime(date)
	if err != nil || t.Sub(now) > g.cfg.ReplayWindow || now.Sub(t) > g.cfg.ReplayWindow {
		return g.innerProblem(ex, http.StatusBadRequest, ohttp.ProblemTypeDate, "Date not acceptable", "date", now, true)
	}

	if len(breq.Path) == 0 || breq.Path[0] != '/' {
		return g.innerProblem(ex, http.StatusBadRequest, problem.TypeBlank, "Bad inner path", "path", now, false)
	}
	u, err := url.ParseRequestURI(breq.Path)
	if err != nil {
		return g.innerProblem(ex, http.StatusBadRequest, problem.TypeBlank, "Bad inner path", "path", now, false)
	}

	hdr := make(http.Header, 4)
	var coding, authorization string
	for _, f := range breq.Header {
		if f.Name == "authorization" && authorization == "" {
			// Handed to WithToken only (a Privacy Pass token), never to
			// the inner handler.
			authorization = f.Value
		}
		name, ok := allowedInner[f.Name]
		if !ok {
			continue
		}
		switch name {
		case "Content-Length":
			continue // recomputed below from the content itself
		case "Content-Encoding":
			coding = f.Value
			continue
		}
		hdr[name] = append(hdr[name], f.Value)
	}
	content := breq.Content
	switch c := strings.ToLower(strings.TrimSpace(coding)); c {
	case "", "identity":
	case "gzip", "x-gzip":
		content, err = g.gunzip(content)
		if errors.Is(err, errInnerTooLarge) {
			return g.innerProblem(ex, http.StatusRequestEntityTooLarge, problem.TypeBlank, "Inner content too large", "inner_too_large", now, false)
		}
		if err != nil {
			return g.innerProblem(ex, http.StatusBadRequest, problem.TypeBlank, "Bad gzip content", "gzip", now, false)
		}
	default:
		return g.innerProblem(ex, http.StatusUnsupportedMediaType, problem.TypeBlank, "Unsupported content coding", "coding", now, false)
	}
	if int64(len(content)) > g.cfg.MaxInnerBytes {
		return g.innerProblem(ex, http.StatusRequestEntityTooLarge, problem.TypeBlank, "Inner content too large", "inner_too_large", now, false)
	}
	hdr["Content-Length"] = []string{strconv.Itoa(len(content))}

	innerCtx := context.Context(cancelOnly{ctx})
	if g.cfg.WithEncHash != nil {
		innerCtx = g.cfg.WithEncHash(innerCtx, encHash)
	}
	if g.cfg.WithToken != nil {
		innerCtx = g.cfg.WithToken(innerCtx, authorization)
	}
	ex.body.Reset(content)
	req := (&http.Request{
		Method:        breq.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		Body:          &ex.body,
		ContentLength: int64(len(content)),
		Host:          innerHost,
		RemoteAddr:    InnerRemoteAddr,
		RequestURI:    breq.Path,
	}).WithContext(innerCtx)

	start := g.cfg.Now()
	rec := limitedWriter{ResponseWriter: bhttp.NewResponseWriter(), limit: g.cfg.MaxResponseBytes}
	g.dispatch(ctx, &rec, req)
	l.inner = g.cfg.Now().Sub(start)
	if rec.overflow || rec.panicked {
		return g.innerProblem(ex, http.StatusInternalServerError, problem.TypeBlank, "Internal Server Error", "inner_failed", now, false)
	}
	resp := rec.Response()
	l.innerStatus = resp.StatusCode
	out, err := resp.AppendMarshal(ex.out[:0])
	if err != nil {
		// The inner handler produced something Binary HTTP cannot carry,
		// such as a field value with a newline.
		return g.innerProblem(ex, http.StatusInternalServerError, problem.TypeBlank, "Internal Server Error", "inner_response_invalid", now, false)
	}
	ex.out = out
	return out
}

// dispatch runs the inner handler, turning a panic into a 500 so one bad
// request cannot take down the connection it shares with other clients'
// requests (the relay multiplexes them).
func (g *Gateway) dispatch(ctx context.Context, rec *limitedWriter, req *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			g.log.LogAttrs(ctx, slog.LevelError, "gateway inner handler panicked")
			rec.panicked = true
		}
	}()
	g.cfg.Inner.ServeHTTP(rec, req)
}

// innerProblem encodes a problem response for the encapsulation. A date
// problem carries the gateway's Date so the client can correct its clock
// (RFC 9458 §6.5.2).
func (g *Gateway) innerProblem(ex *exchange, status int, typ, title, reason string, now time.Time, withDate bool) []byte {
	ex.line.innerStatus, ex.line.reason = status, reason
	body := problem.Details{Type: typ, Title: title, Status: status}.Marshal()
	fields := []bhttp.Field{{Name: "content-type", Value: problem.MediaType}}
	if withDate {
		fields = append(fields, bhttp.Field{Name: "date", Value: now.UTC().Format(http.TimeFormat)})
	}
	resp := bhttp.Response{StatusCode: status, Header: fields, Content: body}
	out, err := resp.AppendMarshal(ex.out[:0])
	if err != nil {
		// Unreachable: every field above is valid. Answer an empty 500.
		resp = bhttp.Response{StatusCode: http.StatusInternalServerError}
		out, _ = resp.AppendMarshal(ex.out[:0])
	}
	ex.out = out
	return out
}

var errInnerTooLarge = errors.New("gateway: inner content too large")

// gunzip decodes gzip content, refusing output beyond MaxInnerBytes so a
// small compressed body cannot expand without bound.
func (g *Gateway) gunzip(b []byte) ([]byte, error) {
	zr, _ := g.gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(b))
	} else {
		err = zr.Reset(bytes.NewReader(b))
	}
	if err != nil {
		return nil, err
	}
	defer g.gzipReaders.Put(zr)
	zr.Multistream(true)
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(zr, g.cfg.MaxInnerBytes+1))
	if err != nil {
		return nil, err
	}
	if n > g.cfg.MaxInnerBytes {
		return nil, errInnerTooLarge
	}
	return out.Bytes(), nil
}

// cancelOnly passes on the outer request's cancellation and deadline but
// none of its values, so nothing the server attached to the outer request
// (its connection, addresses) is visible to the inner handler.
type cancelOnly struct{ context.Context }

func (cancelOnly) Value(any) any { return nil }

// innerBody is the inner request's body, reused across exchanges.
type innerBody struct{ bytes.Reader }

func (*innerBody) Close() error { return nil }

// limitedWriter records the inner response with bhttp.ResponseWriter,
// refusing content beyond the gateway's response limit.
type limitedWriter struct {
	*bhttp.ResponseWriter
	limit    int64
	n        int64
	overflow bool
	panicked bool
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.limit {
		w.overflow = true
		return 0, errInnerTooLarge
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *limitedWriter) WriteString(s string) (int, error) {
	if w.n+int64(len(s)) > w.limit {
		w.overflow = true
		return 0, errInnerTooLarge
	}
	n, err := w.ResponseWriter.WriteString(s)
	w.n += int64(n)
	return n, err
}
