package schema

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Schema is a compiled, linted event schema. It is immutable and safe for
// concurrent use.
type Schema struct {
	Name          string
	Version       int
	Granularity   string // GranularityHour or GranularityDay
	RetentionDays int
	// Tokens is the token policy (TokensOff, TokensOptional,
	// TokensRequired); TokenBatchEvents, if not 0, bounds the schema's
	// events in one batch when the policy is not off.
	Tokens           string
	TokenBatchEvents int
	Dimensions       []string // sorted property names with role dimension
	Measures         []string // sorted property names with role measure
	Document         []byte   // the document as registered

	// check is the compiled checker; nil only for a document
	// CompileLenient took that the compiler cannot handle, which ref
	// then checks (such a document cannot be registered).
	check *checker
	// ref is the JSON Schema library's compilation: the reference the
	// checker is tested against, and what checks a lenient document the
	// compiler cannot handle.
	ref        *jsonschema.Schema
	props      map[string]propInfo // every declared property, for ref
	properties map[string]Property // the same, described for releases
	release    Release
}

// Compile lints doc and compiles it with the JSON Schema 2020-12 validator.
// A refused document yields a *LintError listing every finding that
// refuses it, including the library's own refusal (rule json_schema);
// warnings (Finding.Warning) do not refuse a document.
func Compile(doc []byte) (*Schema, error) {
	s, findings := analyze(doc, false)
	if errs := refusing(findings); len(errs) > 0 {
		return nil, &LintError{Findings: errs}
	}
	return s, nil
}

// CompileLenient compiles doc even when lint refuses it, for trying events
// against a draft schema offline (veil validate): it returns every
// finding, warnings included, and a Schema whenever doc is a JSON object
// the JSON Schema library compiles. A document lint refuses cannot be
// registered; its Schema checks events exactly as a registered one would
// (undeclared fields, bounds, detectors, then the library's validation),
// with name and version as far as x-veil gives them.
func CompileLenient(doc []byte) (*Schema, []Finding, error) {
	s, findings := analyze(doc, true)
	if s == nil {
		return nil, findings, &LintError{Findings: refusing(findings)}
	}
	return s, findings, nil
}

// refusing returns the findings that are not warnings.
func refusing(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if !f.Warning {
			out = append(out, f)
		}
	}
	return out
}

// analyze lints and compiles doc. Unless lenient, it returns a Schema only
// when no finding refuses the document; lenient, whenever the library
// compiles it.
func analyze(doc []byte, lenient bool) (*Schema, []Finding) {
	p, findings := lint(doc)
	if p == nil {
		return nil, findings
	}
	// Compile with the library even when lint found problems, so one pass
	// reports everything wrong with the document.
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// The document cannot reference anything (lint refuses $ref), and no
	// loader may reach the network or the file system if it tried.
	c.UseLoader(refuseLoader{})
	// The name is a lowercase dotted identifier once lint passed; before
	// that it may be anything, so it stays out of the URL.
	url := "https://schemas.veil.invalid/event-" + strconv.Itoa(p.version) + ".json"
	var compiled *jsonschema.Schema
	err := c.AddResource(url, p.root)
	if err == nil {
		compiled, err = c.Compile(url)
	}
	if err != nil {
		findings = append(findings, Finding{Rule: RuleJSONSchema, Message: err.Error()})
		return nil, findings
	}
	lintOK := len(refusing(findings)) == 0
	if !lenient && !lintOK {
		return nil, findings
	}
	check, cf := compileChecker(p.root)
	if lintOK && len(cf) > 0 {
		// The document is fine but the compiler cannot handle it: it is
		// refused rather than checked two ways.
		findings = append(findings, cf...)
		if !lenient {
			return nil, findings
		}
	}
	props, _ := p.root["properties"].(map[string]any)
	info := make(map[string]propInfo, len(props))
	described := make(map[string]Property, len(props))
	required, _ := p.root["required"].([]any)
	for name, v := range props {
		ps, _ := v.(map[string]any)
		info[name] = newPropInfo(ps)
		described[name] = describe(name, ps, slices.Contains(required, any(name)))
	}
	return &Schema{
		Name:             p.name,
		Version:          p.version,
		Granularity:      p.granularity,
		RetentionDays:    p.retention,
		Tokens:           p.tokens,
		TokenBatchEvents: p.tokenEvents,
		Dimensions:       p.dims,
		Measures:         p.measures,
		Document:         bytes.Clone(doc),
		check:            check,
		ref:              compiled,
		props:            info,
		properties:       described,
		release:          p.release,
	}, findings
}

type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema: external reference %q not allowed", url)
}

// Rejection says why an event was refused: a reason code, the field it
// concerns (if any) and, for schema_invalid_event, the JSON pointer of the
// failing location. Pointers are relative to the event's fields object
// ("/cold_start_ms"). A Rejection never carries the offending value; a field
// name that is not a plain identifier (it might itself carry data) is
// withheld too, leaving Field and Pointer empty.
type Rejection struct {
	Reason  string `json:"reason"`
	Field   string `json:"field,omitempty"`
	Pointer string `json:"pointer,omitempty"`
}

func (r *Rejection) Error() string {
	if r.Field != "" {
		return "rejected: " + r.Reason + " (" + r.Field + ")"
	}
	return "rejected: " + r.Reason
}

// Check validates an event's fields against the schema and runs the
// identifier detectors over every string value and every number that could
// carry an identifier, including values the schema accepts. It returns nil
// when the event is accepted.
//
// Field values are as encoding/json decodes them (see FieldsFromMap);
// CheckFields is Check for fields already in the checker's shape.
func (s *Schema) Check(fields map[string]any) *Rejection {
	return s.CheckFields(FieldsFromMap(make([]Field, 0, len(fields)), fields))
}

// CheckFields is Check for an event's fields as a decoder produced them.
// Names must be distinct (a repeated name is answered
// schema_invalid_event).
//
// Check bounds its work before any detector runs: an undeclared field is
// answered field_unknown, and a value longer than its property could ever
// accept (see propInfo) field_out_of_range (field_type for a property that
// takes no strings), without reading the value. After that, when several
// problems exist the answer is deterministic: an identifier beats a schema
// problem (the sender most needs to know about a leak), then a control
// character, then field_missing, field_type, field_out_of_range,
// schema_invalid_event, each on the lexically smallest field.
//
// Its cost is linear in the size of the fields; it allocates only the
// Rejection it returns.
func (s *Schema) CheckFields(fields []Field) *Rejection {
	if s.check == nil {
		return s.referenceCheck(fieldsToMap(fields))
	}
	rej, _, _ := s.check.check(fields, false)
	return rej
}

// CheckSplit is CheckFields that, for an accepted event, also returns its
// dimensions (string, bool or int64 values) and measures (float64), in
// the same pass: what ingest stores.
func (s *Schema) CheckSplit(fields []Field) (dims map[string]any, measures map[string]float64, rej *Rejection) {
	if s.check == nil {
		if rej := s.referenceCheck(fieldsToMap(fields)); rej != nil {
			return nil, nil, rej
		}
		// Only a lenient document, which is never registered, gets here:
		// veil validate does not split.
		return nil, nil, nil
	}
	rej, dims, measures = s.check.check(fields, true)
	return dims, measures, rej
}

// MaxValueBytes bounds any string value Check reads: no property accepts a
// longer one (a pattern string has at most MaxStringLength characters of
// at most 4 bytes each, an enum value at most MaxStringLength bytes).
const MaxValueBytes = 1 << 10

// propInfo is what Check needs to know about a declared property before
// running the validator.
type propInfo struct {
	// maxBytes is the longest string Check reads for the property: the
	// longest the property could accept (4 bytes per character of
	// maxLength, the longest string of an enum), at most MaxValueBytes.
	maxBytes int
	// stringOver and numberOver are the reasons for a string longer than
	// maxBytes and a number longer than maxNumberText: field_type when the
	// property's type excludes strings (numbers), else field_out_of_range,
	// as the validator would answer.
	stringOver, numberOver string
	// scanNumbers: a number value may carry an identifier, since the
	// property does not declare a small range (both bounds within
	// ±NumberScanFloor, or only small enum values).
	scanNumbers bool
}

func newPropInfo(ps map[string]any) propInfo {
	p := propInfo{maxBytes: MaxValueBytes, stringOver: ReasonFieldOutOfRange, numberOver: ReasonFieldOutOfRange, scanNumbers: true}
	if typ, ok := ps["type"].(string); ok {
		if typ != "string" {
			p.stringOver = ReasonFieldType
		}
		if typ != "integer" && typ != "number" {
			p.numberOver = ReasonFieldType
		}
	}
	if m, ok := intValue(ps["maxLength"]); ok && m >= 0 && m < MaxValueBytes {
		p.maxBytes = min(p.maxBytes, int(4*m))
	}
	var values []any
	if e, ok := ps["enum"].([]any); ok {
		values = append(values, e...)
	}
	if c, ok := ps["const"]; ok {
		values = append(values, c)
	}
	if values != nil {
		longest, small := 0, true
		for _, v := range values {
			switch v := v.(type) {
			case string:
				longest = max(longest, len(v))
			case json.Number:
				small = small && smallNumber(v)
			}
		}
		p.maxBytes = min(p.maxBytes, longest)
		p.scanNumbers = !small
		return p
	}
	lo := cmp.Or(ps["minimum"], ps["exclusiveMinimum"])
	hi := cmp.Or(ps["maximum"], ps["exclusiveMaximum"])
	if smallNumber(lo) && smallNumber(hi) {
		p.scanNumbers = false
	}
	return p
}

// smallNumber reports a JSON number within ±NumberScanFloor.
func smallNumber(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	f, err := n.Float64()
	return err == nil && math.Abs(f) <= NumberScanFloor
}

// oversize returns the reason a value is refused without being read: a
// string longer than maxBytes, or a number written with more than
// maxNumberText characters; "" when the value is to be read.
func (p propInfo) oversize(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > p.maxBytes {
			return p.stringOver
		}
	case json.Number:
		if len(v) > maxNumberText {
			return p.numberOver
		}
	}
	return ""
}

// hasControl reports whether s holds a control character: C0 (U+0000 to
// U+001F, tab and newline included), DEL (U+007F) or C1 (U+0080 to
// U+009F). PostgreSQL refuses U+0000 in text and jsonb, and none belongs
// in a telemetry value.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f {
			return true
		}
	}
	return false
}

func walkLeaves(e *jsonschema.ValidationError, f func(*jsonschema.ValidationError)) {
	if len(e.Causes) == 0 {
		f(e)
		return
	}
	for _, c := range e.Causes {
		walkLeaves(c, f)
	}
}

// classify maps one library error to a reason and its precedence rank.
func classify(e *jsonschema.ValidationError) (*Rejection, int) {
	field := ""
	if len(e.InstanceLocation) > 0 {
		field = e.InstanceLocation[0]
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		return rejection(ReasonFieldUnknown, slices.Min(k.Properties)), 0
	case *kind.Required:
		return rejection(ReasonFieldMissing, slices.Min(k.Missing)), 1
	case *kind.Type:
		if len(e.InstanceLocation) == 1 {
			return rejection(ReasonFieldType, field), 2
		}
	case *kind.Minimum, *kind.Maximum, *kind.ExclusiveMinimum, *kind.ExclusiveMaximum,
		*kind.MultipleOf, *kind.MinLength, *kind.MaxLength, *kind.Enum, *kind.Const,
		*kind.Pattern:
		if len(e.InstanceLocation) == 1 {
			return rejection(ReasonFieldOutOfRange, field), 3
		}
	}
	r := &Rejection{Reason: ReasonSchemaInvalidEvent, Pointer: pointer(e.InstanceLocation)}
	if len(e.InstanceLocation) > 0 {
		if safeFieldName(field) {
			r.Field = field
		} else {
			r.Pointer = ""
		}
	}
	return r, 4
}

// rejection builds a Rejection for a field, withholding names that are not
// plain identifiers or that look like data themselves.
func rejection(reason, field string) *Rejection {
	if !safeFieldName(field) {
		return &Rejection{Reason: reason}
	}
	return &Rejection{Reason: reason, Field: field, Pointer: pointer([]string{field})}
}

func safeFieldName(name string) bool {
	if len(name) == 0 || len(name) > maxPropertyName || !propertyNameRE.MatchString(name) {
		return false
	}
	_, hit := Detect(name)
	return !hit
}

// pointer renders an RFC 6901 JSON pointer.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// Equal reports whether two schema documents are the same JSON value:
// object member order, insignificant whitespace and number spelling (1,
// 1.0, 1e0) do not matter. Invalid JSON is equal only byte for byte.
// Storage uses it for the immutability rule: re-registering an equal
// document under the same version is a no-op, anything else a conflict.
func Equal(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	va, err := decodeJSON(a)
	if err != nil {
		return false
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return false
	}
	return jsonEqual(va, vb)
}

func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !jsonEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		ra, okA := new(big.Rat).SetString(a.String())
		rb, okB := new(big.Rat).SetString(b.String())
		return okA && okB && ra.Cmp(rb) == 0
	default:
		return a == b
	}
}
