package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
)

// ProblemMediaType is the RFC 9457 media type of every REST error body.
const ProblemMediaType = "application/problem+json"

// problemTypePrefix names problem types (RFC 9457 §3.1.1) by error kind.
const problemTypePrefix = "urn:veil:problem:"

// problem is an RFC 9457 problem details object. Findings is an extension
// member (§3.2) carrying schema lint findings.
type problem struct {
	Type     string    `json:"type"`
	Title    string    `json:"title"`
	Status   int       `json:"status"`
	Detail   string    `json:"detail,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
}

// retryAfterMD is the gRPC header metadata key that carries Retry-After
// across the in-process REST mapping and real gRPC alike.
const retryAfterMD = "retry-after"

// ErrorHandler returns grpc-gateway's error hook writing RFC 9457
// application/problem+json. Statuses come from the error's Kind; 5xx bodies
// carry the kind's title only; 503 always carries Retry-After, taken from
// the error, else from the retry-after header metadata, else 1 second.
// Internal causes are logged (never event values: no package puts them in
// errors).
func ErrorHandler(logger *slog.Logger) runtime.ErrorHandlerFunc {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		e := asError(err)
		if ob := overflowed(r); ob != nil {
			// grpc-gateway reports the body limit as InvalidArgument, its
			// error type lost: limitBody's mark says what happened.
			e = bodyTooLarge(ob.limit)
		}
		retry := ""
		if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
			if v := md.HeaderMD.Get(retryAfterMD); len(v) > 0 {
				if _, perr := strconv.ParseUint(v[0], 10, 32); perr == nil {
					retry = v[0]
				}
			}
		}
		if e.RetryAfter > 0 {
			retry = retryAfterHeader(e.RetryAfter)
		}
		if e.Kind == KindInternal {
			method, _ := runtime.RPCMethod(ctx)
			logger.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("method", method), slog.String("error", e.Error()))
		}
		writeProblem(w, e, retry)
	}
}

// limitBody bounds a REST request's body to n bytes: a declared length
// over it is answered 413 at once, and a streamed body that runs over it
// fails grpc-gateway's read, marked so that ErrorHandler answers 413 too
// (http.MaxBytesHandler alone reached the client as a 400).
func limitBody(h http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			writeProblem(w, bodyTooLarge(n), "")
			return
		}
		ob := &overflowBody{ReadCloser: http.MaxBytesReader(w, r.Body, n), limit: n}
		r = r.WithContext(context.WithValue(r.Context(), overflowKey{}, ob))
		r.Body = ob
		h.ServeHTTP(w, r)
	})
}

type overflowKey struct{}

func bodyTooLarge(limit int64) *Error {
	return Errorf(KindTooLarge, "request body over %d bytes", limit)
}

// overflowBody remembers that its limit was reached.
type overflowBody struct {
	io.ReadCloser
	limit int64
	over  atomic.Bool
}

func (b *overflowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mb *http.MaxBytesError
	if err != nil && errors.As(err, &mb) {
		b.over.Store(true)
	}
	return n, err
}

// overflowed returns r's limitBody body if it ran over its bound, else nil.
func overflowed(r *http.Request) *overflowBody {
	if r == nil {
		return nil
	}
	if ob, _ := r.Context().Value(overflowKey{}).(*overflowBody); ob != nil && ob.over.Load() {
		return ob
	}
	return nil
}

// writeProblem writes e as a problem. retry is a Retry-After value or "".
func writeProblem(w http.ResponseWriter, e *Error, retry string) {
	st := e.Kind.HTTPStatus()
	p := problem{
		Type:   problemTypePrefix + e.Kind.String(),
		Title:  e.Kind.info().title,
		Status: st,
	}
	if d := e.clientMessage(); d != p.Title {
		p.Detail = d
	}
	if st < 500 {
		p.Findings = e.Findings
	}
	h := w.Header()
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h.Set("Content-Type", ProblemMediaType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if st == http.StatusServiceUnavailable {
		if retry == "" {
			retry = "1"
		}
		h.Set("Retry-After", retry)
	}
	if e.Kind == KindUnauthenticated {
		h.Set("WWW-Authenticate", `Bearer realm="veil-admin"`)
	}
	body, err := json.Marshal(p)
	if err != nil {
		// Unreachable: p has only strings and ints.
		body = []byte(`{"type":"about:blank","status":500}`)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(st)
	_, _ = w.Write(body)
}

// RoutingErrorHandler turns grpc-gateway routing failures (unknown path,
// wrong method) into problems too, so nothing answers in another format.
func RoutingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	var e *Error
	switch httpStatus {
	case http.StatusNotFound:
		e = Errorf(KindNotFound, "no such endpoint")
	case http.StatusMethodNotAllowed:
		// A wrong method on a known path: report it as not found rather
		// than describing the API surface to the caller.
		e = Errorf(KindNotFound, "no such endpoint")
	case http.StatusBadRequest:
		e = Errorf(KindInvalid, "malformed request")
	default:
		e = &Error{Kind: KindInternal}
	}
	writeProblem(w, e, "")
}

// MuxOptions returns the grpc-gateway options every veil REST mux uses:
// problem+json errors, protojson with proto field names (unknown request
// fields refused), and no request
// header forwarded into gRPC metadata (ingest must see no client header;
// the admin plane needs none).
func MuxOptions(logger *slog.Logger) []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{
		runtime.WithErrorHandler(ErrorHandler(logger)),
		runtime.WithRoutingErrorHandler(RoutingErrorHandler),
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
	}
}
