package bhttp

import (
	"net/http"
	"slices"
	"strings"
)

// ResponseWriter is an http.ResponseWriter that records a handler's output
// as a *Response, for dispatching a decoded request to a handler in process.
//
// Like net/http, it takes a snapshot of the header at WriteHeader (or the
// first Write) and sends 1xx codes other than 101 as informational responses
// with the header as it is then. Trailers are the fields named in the
// Trailer header, and keys with http.TrailerPrefix, as set by the time
// Response is called. Unlike net/http it does not sniff a Content-Type, and
// it does not panic on an invalid status code: Response's Marshal reports
// it. Writes beyond MaxContentBytes fail with ErrTooLarge.
type ResponseWriter struct {
	header      http.Header
	status      int
	wroteHeader bool
	snapshot    []Field
	info        []InformationalResponse
	body        []byte
}

// NewResponseWriter returns an empty ResponseWriter.
func NewResponseWriter() *ResponseWriter {
	return &ResponseWriter{header: make(http.Header)}
}

// Header returns the header map to modify before WriteHeader or Write.
func (w *ResponseWriter) Header() http.Header { return w.header }

// WriteHeader records the status code. 1xx codes other than 101 record an
// informational response and may be followed by more calls; after a final
// code, later calls are ignored, as in net/http.
func (w *ResponseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if isInformational(code) && code != http.StatusSwitchingProtocols {
		// Record one past the limit, so that Marshal reports it, and no
		// more, so that a looping handler cannot grow memory.
		if len(w.info) <= MaxInformationalResponses {
			w.info = append(w.info, InformationalResponse{StatusCode: code, Header: w.headerFields()})
		}
		return
	}
	w.wroteHeader = true
	w.status = code
	w.snapshot = w.headerFields()
}

// Write records content, writing a 200 header first if none was written.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) > MaxContentBytes-len(w.body) {
		return 0, encodeError(secContent, ErrTooLarge)
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// WriteString is Write for a string, without a copy to []byte.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(s) > MaxContentBytes-len(w.body) {
		return 0, encodeError(secContent, ErrTooLarge)
	}
	w.body = append(w.body, s...)
	return len(s), nil
}

// Flush does nothing: output is recorded, not sent. It lets handlers that
// require an http.Flusher run.
func (w *ResponseWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
}

// Response returns what the handler produced; a handler that wrote nothing
// produced an empty 200 response. The Response shares the recorded content.
func (w *ResponseWriter) Response() *Response {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	r := &Response{
		StatusCode: w.status,
		Header:     w.snapshot,
		Content:    w.body,
		Trailer:    w.trailerFields(),
	}
	if len(w.info) > 0 {
		r.Informational = w.info
	}
	return r
}

// headerFields lists the header without the fields declared as trailers.
func (w *ResponseWriter) headerFields() []Field {
	fs, err := fieldsFromHeader(w.header, true)
	if err != nil {
		// Keep the invalid fields so that Marshal reports them rather than
		// silently sending a different header.
		return rawFields(w.header)
	}
	declared := w.header.Values("Trailer")
	if len(declared) == 0 {
		return fs
	}
	out := fs[:0]
	for _, f := range fs {
		if !isDeclaredTrailer(declared, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// trailerFields collects declared trailers and http.TrailerPrefix keys.
func (w *ResponseWriter) trailerFields() []Field {
	var fs []Field
	declared := w.header.Values("Trailer")
	for k, vs := range w.header {
		name, prefixed := strings.CutPrefix(k, http.TrailerPrefix)
		if !prefixed && !isDeclaredTrailer(declared, k) {
			continue
		}
		for _, v := range vs {
			fs = append(fs, Field{Name: name, Value: strings.Trim(v, " \t")})
		}
	}
	slices.SortStableFunc(fs, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	return fs
}

func isDeclaredTrailer(declared []string, name string) bool {
	for _, line := range declared {
		for t := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(t), name) {
				return true
			}
		}
	}
	return false
}

func rawFields(h http.Header) []Field {
	var fs []Field
	for k, vs := range h {
		for _, v := range vs {
			fs = append(fs, Field{Name: k, Value: v})
		}
	}
	return fs
}
