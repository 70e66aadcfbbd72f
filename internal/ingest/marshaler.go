package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	jsonv2 "github.com/goccy/go-json/v2"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// ErrBodyTooLarge reports a request body over JSONMarshaler.MaxBytes.
var ErrBodyTooLarge = errors.New("ingest: batch_too_large: request body too large")

// JSONMarshaler is the grpc-gateway runtime.Marshaler of the inner API. It
// decodes the hot message, SubmitEventsRequest, with goccy/go-json's
// encoding/json/v2 implementation into a plain Go shape and builds the
// proto from it, which costs a fraction of protojson's reflection; it
// encodes SubmitEventsResponse by hand. Every other message, and every input
// the fast path does not take, goes through protojson, so the result is
// exactly protojson's (proto field names on output; on input both the proto
// and the JSON name of a field, and unknown fields are an error).
//
// The fast path accepts a subset of what protojson accepts and builds the
// same message for it (FuzzJSONMarshaler checks this): duplicate names,
// invalid UTF-8, unknown members, null events, camelCase names and
// string-encoded numbers all make it hand the input to protojson.
//
// Register it for the inner mux with
//
//	runtime.WithMarshalerOption(runtime.MIMEWildcard, &ingest.JSONMarshaler{})
//
// The zero value is ready to use.
type JSONMarshaler struct {
	// MaxBytes bounds what NewDecoder reads; a longer body fails with
	// ErrBodyTooLarge (which grpc-gateway reports as InvalidArgument: bound
	// the body before the mux, e.g. with http.MaxBytesReader, for a 413).
	// Zero means no bound here.
	MaxBytes int64
}

var _ runtime.Marshaler = (*JSONMarshaler)(nil)

func (m *JSONMarshaler) pb() *runtime.JSONPb {
	return &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
		UnmarshalOptions: protojson.UnmarshalOptions{},
	}
}

// ContentType is always application/json.
func (*JSONMarshaler) ContentType(any) string { return "application/json" }

// Marshal encodes v as protojson with proto field names; a
// *veilv1.SubmitEventsResponse is encoded by hand, to the same JSON.
func (m *JSONMarshaler) Marshal(v any) ([]byte, error) {
	if r, ok := v.(*veilv1.SubmitEventsResponse); ok {
		return appendResponse(nil, r)
	}
	return m.pb().Marshal(v)
}

// Unmarshal decodes data into v, a *veilv1.SubmitEventsRequest on the fast
// path and anything else as runtime.JSONPb does.
func (m *JSONMarshaler) Unmarshal(data []byte, v any) error {
	if r, ok := v.(*veilv1.SubmitEventsRequest); ok {
		return unmarshalRequest(data, r)
	}
	return m.pb().Unmarshal(data, v)
}

// NewDecoder returns a Decoder that reads all of r (up to MaxBytes) and
// unmarshals it. An empty body decodes to io.EOF, as runtime.JSONPb's does,
// which grpc-gateway treats as an empty message.
//
// Behind Middleware, a SubmitEventsRequest the fast path takes is decoded
// without its events' Fields Structs: SubmitEvents reads the decoded fields
// from the request's context instead.
func (m *JSONMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		data, err := readBody(r, m.MaxBytes)
		if err != nil {
			return err
		}
		if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
			return io.EOF
		}
		if req, ok := v.(*veilv1.SubmitEventsRequest); ok {
			if b, ok := r.(decodedBody); ok && b.d.req == nil {
				if fastRequestInto(data, req, b.d) {
					return nil
				}
				proto.Reset(req)
				return protojson.Unmarshal(data, req)
			}
		}
		return m.Unmarshal(data, v)
	})
}

// NewEncoder returns an Encoder that writes Marshal's output to w.
func (m *JSONMarshaler) NewEncoder(w io.Writer) runtime.Encoder {
	return runtime.EncoderFunc(func(v any) error {
		b, err := m.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
}

func readBody(r io.Reader, limit int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	if limit > 0 {
		r = io.LimitReader(r, limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if limit > 0 && int64(len(data)) > limit {
		return nil, ErrBodyTooLarge
	}
	return data, nil
}

// wireRequest and wireEvent are SubmitEventsRequest's JSON shape for the
// fast path, proto field names only.
type wireRequest struct {
	BatchID string       `json:"batch_id"`
	Events  []*wireEvent `json:"events"`
}

type wireEvent struct {
	Schema  string         `json:"schema"`
	Version int32          `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// unmarshalRequest decodes data into r: on the fast path when it can, else
// with protojson.
func unmarshalRequest(data []byte, r *veilv1.SubmitEventsRequest) error {
	if fastRequest(data, r) {
		return nil
	}
	proto.Reset(r)
	return protojson.Unmarshal(data, r)
}

// fastRequest reports whether it decoded data into r. It declines (false)
// whenever protojson might decide differently, so declining is always safe.
func fastRequest(data []byte, r *veilv1.SubmitEventsRequest) bool {
	return fastRequestInto(data, r, nil)
}

// fastRequestInto is fastRequest that, when d is not nil, leaves the
// events' Fields unset and fills d with the decoded fields instead. It
// accepts and declines exactly the same inputs either way.
func fastRequestInto(data []byte, r *veilv1.SubmitEventsRequest, d *decoded) bool {
	// protojson wants an object at the top; JSON null would unmarshal into
	// the zero struct here.
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return false
	}
	var w wireRequest
	if err := jsonv2.UnmarshalOf(data, &w, jsonv2.RejectUnknownMembers(true)); err != nil {
		return false
	}
	events := make([]*veilv1.Event, len(w.Events))
	// One backing array for all events: a batch is allocated together.
	backing := make([]veilv1.Event, len(w.Events))
	var fields []map[string]any
	if d != nil {
		fields = make([]map[string]any, len(w.Events))
	}
	for i, we := range w.Events {
		if we == nil {
			return false // protojson refuses a null message in a list
		}
		e := &backing[i]
		e.Schema, e.Version = we.Schema, we.Version
		switch {
		case we.Fields == nil:
		case d != nil:
			if !structOK(we.Fields, 0) {
				return false
			}
			fields[i] = we.Fields
		default:
			st, ok := toStruct(we.Fields, 0)
			if !ok {
				return false
			}
			e.Fields = st
		}
		events[i] = e
	}
	proto.Reset(r)
	r.BatchId = w.BatchID
	if len(events) > 0 {
		r.Events = events
	}
	if d != nil {
		d.req, d.fields = r, fields
	}
	return true
}

// structOK reports whether toStruct(m, depth) would succeed, without
// building anything.
func structOK(m map[string]any, depth int) bool {
	for _, v := range m {
		switch v := v.(type) {
		case string:
		case float64:
			if math.IsInf(v, 0) || math.IsNaN(v) {
				return false
			}
		default:
			// As in toStruct, everything else counts one level deeper.
			if !valueOK(v, depth+1) {
				return false
			}
		}
	}
	return true
}

// valueOK reports whether toValue(v, depth) would succeed.
func valueOK(v any, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch v := v.(type) {
	case nil, bool, string:
		return true
	case float64:
		return !math.IsInf(v, 0) && !math.IsNaN(v)
	case map[string]any:
		return structOK(v, depth)
	case []any:
		for _, e := range v {
			if !valueOK(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// maxDepth keeps the conversion well inside protojson's recursion limit
// (10000); anything deeper is left to protojson to refuse.
const maxDepth = 64

func toStruct(m map[string]any, depth int) (*structpb.Struct, bool) {
	fields := make(map[string]*structpb.Value, len(m))
	// The scalar Values of one object share an allocation; so do their
	// kinds, per kind.
	var nStr, nNum int
	for _, v := range m {
		switch v.(type) {
		case string:
			nStr++
		case float64:
			nNum++
		}
	}
	vals := make([]structpb.Value, nStr+nNum)
	strs := make([]structpb.Value_StringValue, nStr)
	nums := make([]structpb.Value_NumberValue, nNum)
	for k, v := range m {
		switch v := v.(type) {
		case string:
			sv := &strs[len(strs)-nStr]
			nStr--
			sv.StringValue = v
			pv := &vals[0]
			vals = vals[1:]
			pv.Kind = sv
			fields[k] = pv
		case float64:
			if math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, false
			}
			nv := &nums[len(nums)-nNum]
			nNum--
			nv.NumberValue = v
			pv := &vals[0]
			vals = vals[1:]
			pv.Kind = nv
			fields[k] = pv
		default:
			pv, ok := toValue(v, depth+1)
			if !ok {
				return nil, false
			}
			fields[k] = pv
		}
	}
	return &structpb.Struct{Fields: fields}, true
}

func toValue(v any, depth int) (*structpb.Value, bool) {
	if depth > maxDepth {
		return nil, false
	}
	switch v := v.(type) {
	case nil:
		return structpb.NewNullValue(), true
	case bool:
		return structpb.NewBoolValue(v), true
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, false
		}
		return structpb.NewNumberValue(v), true
	case string:
		return structpb.NewStringValue(v), true
	case map[string]any:
		s, ok := toStruct(v, depth)
		if !ok {
			return nil, false
		}
		return structpb.NewStructValue(s), true
	case []any:
		vals := make([]*structpb.Value, len(v))
		for i, e := range v {
			pv, ok := toValue(e, depth+1)
			if !ok {
				return nil, false
			}
			vals[i] = pv
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals}), true
	default:
		return nil, false
	}
}

// appendResponse encodes r as protojson does with UseProtoNames (minus
// protojson's deliberately unstable whitespace): unset fields are omitted,
// index is present whenever set. EventResult's strings are escaped per
// RFC 8259; invalid UTF-8 fails as protojson does.
func appendResponse(b []byte, r *veilv1.SubmitEventsResponse) ([]byte, error) {
	b = append(b, '{')
	if len(r.GetResults()) > 0 {
		b = append(b, `"results":[`...)
		for i, res := range r.GetResults() {
			if i > 0 {
				b = append(b, ',')
			}
			if res == nil {
				b = append(b, "{}"...)
				continue
			}
			var err error
			if b, err = appendResult(b, res); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendResult(b []byte, res *veilv1.EventResult) ([]byte, error) {
	b = append(b, '{')
	first := true
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if res.Index != nil {
		sep()
		b = append(b, `"index":`...)
		b = strconv.AppendInt(b, int64(*res.Index), 10)
	}
	for _, f := range [...]struct{ name, value string }{
		{"status", res.Status}, {"reason", res.Reason}, {"field", res.Field}, {"pointer", res.Pointer},
	} {
		if f.value == "" {
			continue
		}
		if !utf8.ValidString(f.value) {
			return nil, fmt.Errorf("ingest: invalid UTF-8 in EventResult.%s", f.name)
		}
		sep()
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = appendString(b, f.value)
	}
	return append(b, '}'), nil
}

// appendString appends s as a JSON string escaped as protojson escapes:
// '"', '\\' and the control characters below U+0020, nothing else.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
