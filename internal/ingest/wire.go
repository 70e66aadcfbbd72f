package ingest

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/veil-telemetry/veil/internal/schema"
)

// The inner API's JSON, decoded once, by hand, straight into the shape
// the compiled checker reads (schema.Field): no map, no interface value
// and no protobuf Struct per event. It is the one JSON path of POST
// /v1/events; BenchmarkDecodeBatch shows what it saves over encoding/json
// into the same shape, and FuzzDecodeBatch holds it to encoding/json's
// reading of every input both accept.
//
//	request = {"batch_id": string, "events": [event, …]}
//	event   = {"schema": string, "version": int32, "fields": {name: value, …}}
//
// Members may come in any order and be null; the proto's JSON names
// (batchId) are accepted as protojson accepts them. Anything else is
// refused: an unknown member, a member given twice (RFC 8259 §4 leaves
// its meaning open), invalid UTF-8, a version that is not an int32, a
// nesting deeper than maxDepth, trailing data.

// errBadJSON is the decoder's one error: the answer is batch_invalid
// whatever is wrong, and the message never quotes the input.
var errBadJSON = errors.New("ingest: the body is not a valid SubmitEventsRequest")

// maxDepth bounds the nesting of a field value (an object or array, which
// no schema accepts, so only its type matters).
const maxDepth = 64

// batchRequest is a decoded SubmitEventsRequest.
type batchRequest struct {
	batchID string
	events  []eventIn
	// fields backs every event's fields.
	fields []schema.Field
	// spans is decodeBatch's scratch: each event's range of fields.
	spans []span
}

// span is an event's fields, fields[start:end]; end < 0: none.
type span struct{ start, end int }

// reset empties b for reuse, dropping every string it held (they share
// a request body).
func (b *batchRequest) reset() {
	clear(b.events)
	clear(b.fields)
	b.batchID, b.events, b.fields, b.spans = "", b.events[:0], b.fields[:0], b.spans[:0]
}

// maxPooledFields bounds the batches kept for reuse: a rare huge batch
// is left to the collector rather than held.
const maxPooledFields = 1 << 14

var batchPool = sync.Pool{New: func() any { return new(batchRequest) }}

func getBatch() *batchRequest { return batchPool.Get().(*batchRequest) }

func putBatch(b *batchRequest) {
	if cap(b.fields) > maxPooledFields || cap(b.events) > maxPooledFields {
		return
	}
	b.reset()
	batchPool.Put(b)
}

type eventIn struct {
	schema  string
	version int32
	fields  []schema.Field
}

// decodeBatch decodes body into b, reusing its slices. Strings that hold
// no escape share body's memory (body is a string, so they are never
// changed), so an event costs its Field entries and nothing per value.
func decodeBatch(body string, b *batchRequest) error {
	d := decoder{s: body}
	// Every member has a colon and takes at least 5 bytes ("":0,), every
	// event is an object: upper bounds, so that the slices are allocated
	// once (or not at all when b is reused).
	b.reset()
	if n := min(strings.Count(body, ":"), len(body)/5+1); cap(b.fields) < n {
		b.fields = make([]schema.Field, 0, n)
	}
	if n := min(strings.Count(body, "{"), len(body)/2+1); cap(b.events) < n {
		b.events, b.spans = make([]eventIn, 0, n), make([]span, 0, n)
	}
	d.space()
	var seenID, seenEvents bool
	err := d.object(func(name string) error {
		switch name {
		case "batch_id", "batchId":
			if seenID {
				return errBadJSON
			}
			seenID = true
			if d.null() {
				return nil
			}
			s, err := d.str()
			b.batchID = s
			return err
		case "events":
			if seenEvents {
				return errBadJSON
			}
			seenEvents = true
			if d.null() {
				return nil
			}
			return d.array(func() error {
				var ev eventIn
				sp := span{len(b.fields), -1}
				var seenS, seenV, seenF bool
				err := d.object(func(name string) error {
					switch name {
					case "schema":
						if seenS {
							return errBadJSON
						}
						seenS = true
						if d.null() {
							return nil
						}
						s, err := d.str()
						ev.schema = s
						return err
					case "version":
						if seenV {
							return errBadJSON
						}
						seenV = true
						if d.null() {
							return nil
						}
						v, err := d.int32()
						ev.version = v
						return err
					case "fields":
						if seenF {
							return errBadJSON
						}
						seenF = true
						if d.null() {
							return nil
						}
						sp.start = len(b.fields)
						var names map[string]struct{} // past linearNames fields
						err := d.object(func(name string) error {
							f := schema.Field{Name: name}
							if err := d.scalar(&f); err != nil {
								return err
							}
							if !distinct(b.fields[sp.start:], name, &names) {
								return errBadJSON
							}
							b.fields = append(b.fields, f)
							return nil
						})
						sp.end = len(b.fields)
						return err
					}
					return errBadJSON
				})
				if err != nil {
					return err
				}
				b.events = append(b.events, ev)
				b.spans = append(b.spans, sp)
				return nil
			})
		}
		return errBadJSON
	})
	if err != nil {
		return err
	}
	d.space()
	if d.i != len(d.s) {
		return errBadJSON
	}
	for i, sp := range b.spans {
		if sp.end >= 0 {
			b.events[i].fields = b.fields[sp.start:sp.end:sp.end]
			if b.events[i].fields == nil {
				b.events[i].fields = []schema.Field{}
			}
		}
	}
	return nil
}

// linearNames is how many fields of an event distinct compares name by
// name; beyond, it keeps a set, so a hostile event with thousands of
// fields costs linear time.
const linearNames = 16

// distinct reports whether name is not among prev, an event's fields so
// far, with *set the names of prev once there are more than linearNames.
func distinct(prev []schema.Field, name string, set *map[string]struct{}) bool {
	if len(prev) < linearNames {
		for i := range prev {
			if prev[i].Name == name {
				return false
			}
		}
		return true
	}
	if *set == nil {
		*set = make(map[string]struct{}, 2*len(prev))
		for i := range prev {
			(*set)[prev[i].Name] = struct{}{}
		}
	}
	if _, dup := (*set)[name]; dup {
		return false
	}
	(*set)[name] = struct{}{}
	return true
}

// decoder reads JSON (RFC 8259) from s at i.
type decoder struct {
	s string
	i int
}

func (d *decoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (d *decoder) peek() byte {
	d.space()
	if d.i < len(d.s) {
		return d.s[d.i]
	}
	return 0
}

func (d *decoder) literal(lit string) bool {
	if len(d.s)-d.i >= len(lit) && d.s[d.i:d.i+len(lit)] == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// null consumes a null if one comes next.
func (d *decoder) null() bool {
	return d.peek() == 'n' && d.literal("null")
}

// object reads an object, calling member for each name with the decoder
// at the value, which member must consume.
func (d *decoder) object(member func(name string) error) error {
	if d.peek() != '{' {
		return errBadJSON
	}
	d.i++
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		if d.peek() != '"' {
			return errBadJSON
		}
		name, err := d.str()
		if err != nil {
			return err
		}
		if d.peek() != ':' {
			return errBadJSON
		}
		d.i++
		if err := member(name); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return errBadJSON
		}
	}
}

// array reads an array, calling elem with the decoder at each element.
func (d *decoder) array(elem func() error) error {
	if d.peek() != '[' {
		return errBadJSON
	}
	d.i++
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return errBadJSON
		}
	}
}

// str reads a string. Without escapes it is a substring of s.
func (d *decoder) str() (string, error) {
	if d.peek() != '"' {
		return "", errBadJSON
	}
	d.i++
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			return s, nil
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", errBadJSON
		case c < utf8.RuneSelf:
			d.i++
		default:
			r, n := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && n == 1 {
				return "", errBadJSON
			}
			d.i += n
		}
	}
	return "", errBadJSON
}

// escaped finishes a string that started at start and holds an escape at
// d.i, building its value.
func (d *decoder) escaped(start int) (string, error) {
	b := make([]byte, 0, d.i-start+16)
	b = append(b, d.s[start:d.i]...)
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b), nil
		case c == '\\':
			if d.i+1 >= len(d.s) {
				return "", errBadJSON
			}
			e := d.s[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", errBadJSON
				}
				if utf16.IsSurrogate(r) {
					// A pair makes one rune; a lone half is U+FFFD, as
					// encoding/json reads it.
					save := d.i
					if d.literal(`\u`) {
						if r2, ok := d.hex4(); ok {
							if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
								b = utf8.AppendRune(b, p)
								continue
							}
						}
					}
					d.i = save
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", errBadJSON
			}
		case c < 0x20:
			return "", errBadJSON
		case c < utf8.RuneSelf:
			b = append(b, c)
			d.i++
		default:
			r, n := utf8.DecodeRuneInString(d.s[d.i:])
			if r == utf8.RuneError && n == 1 {
				return "", errBadJSON
			}
			b = append(b, d.s[d.i:d.i+n]...)
			d.i += n
		}
	}
	return "", errBadJSON
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.s)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(d.s[d.i : d.i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// number reads a number (RFC 8259 §6) and returns its text.
func (d *decoder) number() (string, error) {
	d.space()
	start := d.i
	if d.i < len(d.s) && d.s[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case d.i < len(d.s) && d.s[d.i] >= '1' && d.s[d.i] <= '9':
		d.digits()
	default:
		return "", errBadJSON
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return "", errBadJSON
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return "", errBadJSON
		}
	}
	return d.s[start:d.i], nil
}

func (d *decoder) digits() int {
	n := 0
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}

// int32 reads a number that is an integer within int32 (1.0 and 1e0
// too, as protojson reads an int32).
func (d *decoder) int32() (int32, error) {
	text, err := d.number()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, errBadJSON
	}
	return int32(f), nil
}

// scalar reads a field value into f: a scalar with its text, an object
// or array by type only.
func (d *decoder) scalar(f *schema.Field) error {
	switch d.peek() {
	case '"':
		s, err := d.str()
		f.Type, f.Text = schema.TypeString, s
		return err
	case 't':
		if d.literal("true") {
			f.Type, f.Bool = schema.TypeBool, true
			return nil
		}
	case 'f':
		if d.literal("false") {
			f.Type = schema.TypeBool
			return nil
		}
	case 'n':
		if d.literal("null") {
			f.Type = schema.TypeNull
			return nil
		}
	case '{':
		f.Type = schema.TypeObject
		return d.skip(0)
	case '[':
		f.Type = schema.TypeArray
		return d.skip(0)
	default:
		s, err := d.number()
		f.Type, f.Text = schema.TypeNumber, s
		return err
	}
	return errBadJSON
}

// skip reads any value, checking its syntax, to a depth of maxDepth.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return errBadJSON
	}
	switch d.peek() {
	case '{':
		return d.object(func(string) error { return d.skip(depth + 1) })
	case '[':
		return d.array(func() error { return d.skip(depth + 1) })
	}
	var f schema.Field
	return d.scalar(&f)
}

// eventResult is one event's answer.
type eventResult struct {
	status, reason, field, pointer string
}

// appendResults encodes the response {"results":[…]} ({} for none):
// each result's index, and its status, reason, field and pointer when
// set, in the order and form protojson wrote them with proto names.
func appendResults(b []byte, results []eventResult) []byte {
	if len(results) == 0 {
		return append(b, "{}"...)
	}
	b = append(b, `{"results":[`...)
	for i := range results {
		r := &results[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		for _, m := range [...]struct{ name, value string }{
			{`,"status":`, r.status}, {`,"reason":`, r.reason}, {`,"field":`, r.field}, {`,"pointer":`, r.pointer},
		} {
			if m.value != "" {
				b = append(b, m.name...)
				b = appendString(b, m.value)
			}
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendString appends s as a JSON string (RFC 8259 §7), escaping '"',
// '\\' and the control characters; s is valid UTF-8 (reason codes,
// statuses and plain field names).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
