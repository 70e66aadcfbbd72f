package ingest

import (
	"cmp"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
)

// EventsPath is the inner API's one endpoint.
const EventsPath = "/v1/events"

// Handler is the ingest API as veil serve's gateway calls it, in process
// (never served in the clear): POST /v1/events, whose body — at most
// maxBytes (0: no bound here) — is decoded once, straight into the
// checker's shape (decodeBatch), and answered as JSON with proto field
// names. Every error is an RFC 9457 problem whose type names its kind
// (see the package documentation), a 503 with Retry-After; anything but
// POST /v1/events is not found. No request header reaches ingest.
func Handler(srv *Server, logger *slog.Logger, maxBytes int64) (http.Handler, error) {
	return &handler{s: srv, log: cmp.Or(logger, slog.New(slog.DiscardHandler)), maxBytes: maxBytes}, nil
}

type handler struct {
	s        *Server
	log      *slog.Logger
	maxBytes int64
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != EventsPath {
		// A wrong method is not found too: the answer does not describe
		// the API surface.
		problem.WriteError(w, problem.Errorf(problem.NotFound, "no such endpoint"))
		return
	}
	start := time.Now()
	body, perr := h.readBody(r)
	if perr != nil {
		h.s.observe(r.Context(), start, 0, requestResult{result: perr.Reason})
		problem.WriteError(w, perr)
		return
	}
	b := getBatch()
	defer putBatch(b)
	if err := decodeBatch(body, b); err != nil {
		h.s.observe(r.Context(), start, 0, requestResult{result: ResultBatchInvalid})
		problem.WriteError(w, &problem.Error{Kind: problem.Invalid, Reason: ErrorReasonBatchInvalid,
			Message: ErrorReasonBatchInvalid + ": the body is not a SubmitEventsRequest in JSON"})
		return
	}
	results, rr, err := h.s.submit(r.Context(), b, 0)
	h.s.observe(r.Context(), start, len(b.events), rr)
	if err != nil {
		e := grpcproblem.FromError(err)
		if e.Kind == problem.Internal {
			h.log.LogAttrs(r.Context(), slog.LevelError, "ingest: request failed", slog.String("error", e.Error()))
		}
		// A token refusal (401) carries the request's WWW-Authenticate
		// challenge (RFC 9577 §2.1), the same bytes for every refusal.
		if e.Kind == problem.Unauthenticated {
			if c := tokenChallengeFor(r.Context()); c != "" {
				w.Header().Set("WWW-Authenticate", c)
			}
		}
		problem.WriteError(w, e)
		return
	}
	out := appendResults(make([]byte, 0, 16+48*len(results)), results)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// readBody reads the body, at most maxBytes, into one string (so the
// decoder's strings can share it), allocating it once when the length is
// announced.
func (h *handler) readBody(r *http.Request) (string, *problem.Error) {
	var sb strings.Builder
	if r.ContentLength > 0 && (h.maxBytes <= 0 || r.ContentLength <= h.maxBytes) {
		sb.Grow(int(r.ContentLength))
	}
	if r.Body == nil {
		return "", nil
	}
	var chunk [4 << 10]byte
	for {
		n, err := r.Body.Read(chunk[:])
		sb.Write(chunk[:n])
		if h.maxBytes > 0 && int64(sb.Len()) > h.maxBytes {
			return "", &problem.Error{Kind: problem.TooLarge, Reason: ErrorReasonBatchTooLarge,
				Message: ErrorReasonBatchTooLarge + ": request body over " + strconv.FormatInt(h.maxBytes, 10) + " bytes"}
		}
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return "", &problem.Error{Kind: problem.Invalid, Reason: ErrorReasonBatchInvalid,
				Message: ErrorReasonBatchInvalid + ": the body could not be read"}
		}
	}
}
