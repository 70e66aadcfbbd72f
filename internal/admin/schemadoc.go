package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/veil-telemetry/veil/internal/schema"
)

// exactDocumentKey carries, in a REST request's context, the schema
// document as its body wrote it (exactDocument), so that RegisterSchema
// stores the numbers that were sent rather than what survived
// google.protobuf.Struct, whose numbers are float64.
type exactDocumentKey struct{}

// withExactDocument returns ctx carrying doc (see exactDocumentKey).
func withExactDocument(ctx context.Context, doc []byte) context.Context {
	return context.WithValue(ctx, exactDocumentKey{}, doc)
}

// exactDocumentFrom returns the document withExactDocument put in ctx.
func exactDocumentFrom(ctx context.Context) ([]byte, bool) {
	doc, ok := ctx.Value(exactDocumentKey{}).([]byte)
	return doc, ok
}

// exactDocument encodes the schema document raw canonically, like
// canonicalDocument (sorted members, a number that is exactly a float64
// written as the float64), but keeps a number that no float64 denotes as
// it was written: "maximum": 9999999999999999999 stays that, where the
// Struct would hold 10000000000000000000. Documents that gRPC clients can
// send therefore store the same bytes either way, and re-registering one
// over REST is still recognised as a no-op.
func exactDocument(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the document")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("the document is not a JSON object")
	}
	v, err := canonicalNumbers(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// canonicalNumbers replaces, in place, every number of v that is exactly
// a float64 by that float64. A number too large for a float64 is refused,
// as the Struct path refuses it.
func canonicalNumbers(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := canonicalNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
	case []any:
		for i, e := range x {
			c, err := canonicalNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
	case json.Number:
		if f, ok := schema.Float64Exact(x); ok {
			return f, nil
		}
		if _, err := x.Float64(); err != nil {
			return nil, fmt.Errorf("a number is out of range: schema numbers must be within ±1.7e308")
		}
	}
	return v, nil
}
