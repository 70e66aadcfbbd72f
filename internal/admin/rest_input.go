package admin

import (
	"bytes"
	"encoding/json"
	"github.com/veil-telemetry/veil/internal/problem"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
)

// restInput runs in grpc-gateway's mux, after routing and before the
// generated handler decodes the request, and fixes two REST inputs whose
// decoding errors would otherwise reach the client in grpc-gateway's
// words: a schema document posted as it is written, and a from/to that
// is not a timestamp.
func restInput(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/schemas":
			var e *problem.Error
			if r, e = wrapBareSchema(r); e != nil {
				writeProblem(w, e)
				return
			}
		case r.Method == http.MethodGet && (r.URL.Path == "/v1/aggregates" || r.URL.Path == "/v1/stats"):
			if e := checkTimeParams(r); e != nil {
				writeProblem(w, e)
				return
			}
		}
		next(w, r, params)
	}
}

// wrapBareSchema lets POST /v1/schemas take a schema document as it is
// written (the file veil schema lint and veil admin schemas register
// read) as well as RegisterSchemaRequest's {"document": …}: a JSON object
// with no "document" member is a bare document, and is wrapped in one
// before grpc-gateway decodes it. The body is parsed twice, here and by
// the gateway; schema registration is rare and bounded by limitBody, so
// that costs nothing that matters. Anything that is not a JSON object is
// left to the gateway's decoder and its error.
//
// The document's own bytes are also read here with their numbers exact
// (exactDocument) and handed to RegisterSchema in the returned request's
// context: the gateway's decoder turns them into a Struct, whose numbers
// are float64.
func wrapBareSchema(r *http.Request) (*http.Request, *problem.Error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if ob := overflowed(r); ob != nil {
			return r, bodyTooLarge(ob.limit)
		}
		return r, problem.Errorf(problem.Invalid, "the request body could not be read")
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		doc, wrapped := top["document"]
		switch {
		case !wrapped:
			doc = body
			body = slices.Concat([]byte(`{"document":`), body, []byte("}"))
		case len(top) > 1:
			return r, problem.Errorf(problem.Invalid, `post the schema document itself, or wrap it as {"document": …} with no other member`)
		}
		if !bytes.Equal(bytes.TrimSpace(doc), []byte("null")) {
			exact, err := exactDocument(doc)
			if err != nil {
				return r, problem.Errorf(problem.Invalid, "the schema document is not a JSON object that can be stored: %v", err)
			}
			r = r.WithContext(withExactDocument(r.Context(), exact))
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r, nil
}

// timeParams are the query parameters of GetAggregatesRequest and
// GetStatsRequest that grpc-gateway parses as google.protobuf.Timestamp.
var timeParams = [...]string{"from", "to"}

// checkTimeParams refuses a from or to that grpc-gateway would refuse
// (it accepts RFC 3339 with optional fractional seconds, and "null"),
// naming the format instead of quoting Go's reference layout.
func checkTimeParams(r *http.Request) *problem.Error {
	q := r.URL.Query()
	for _, name := range timeParams {
		for _, v := range q[name] {
			if v == "null" {
				continue
			}
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return problem.Errorf(problem.Invalid, "%s must be an RFC 3339 time with a time zone, such as 2025-01-31T09:00:00Z or 2025-01-31T10:00:00+01:00", name)
			}
		}
	}
	return nil
}
