package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// Lint rules. Finding.Rule is one of these; they are stable identifiers a
// registration client may match on.
const (
	RuleInvalidJSON          = "invalid_json"          // the document is not one JSON object
	RuleDialect              = "dialect"               // $schema is not JSON Schema 2020-12
	RuleXVeil                = "x_veil"                // the x-veil block is missing or invalid
	RuleNotObject            = "not_object"            // top-level type is not "object"
	RuleAdditionalProperties = "additional_properties" // additionalProperties is not false
	RuleNoProperties         = "no_properties"         // properties is missing or empty
	RuleRequired             = "required"              // required is malformed or names an undeclared property
	RuleUnsupportedKeyword   = "unsupported_keyword"   // a keyword outside the flat-scalar subset ($ref, allOf, format…)
	RulePropertyName         = "property_name"         // a property name with characters other than [A-Za-z0-9_.-], or too long
	RuleIdentifyingName      = "identifying_name"      // the property name looks identifying
	RuleUnknownRole          = "unknown_role"          // x-veil-role missing or not dimension/measure
	RuleNestedObject         = "nested_object"         // an object-typed property
	RuleArray                = "array"                 // an array-typed property
	RuleInvalidType          = "invalid_type"          // no usable single scalar type
	RuleUnboundedString      = "unbounded_string"      // a string with no enum, and no pattern with maxLength ≤ 128
	RuleUnboundedNumber      = "unbounded_number"      // a number without both a lower and an upper bound
	RuleDimensionType        = "dimension_type"        // a fractional number used as a dimension
	RuleMeasureType          = "measure_type"          // a measure that is not an integer or number
	RuleIdentifyingEnum      = "identifying_enum"      // an enum/const value a detector matches
	RuleControlCharacter     = "control_character"     // an enum/const string with a control character
	RulePatternUnanchored    = "pattern_unanchored"    // a dimension pattern not anchored at both ends (^…$)
	RulePatternIdentifier    = "pattern_identifier"    // a dimension pattern (with its length bounds) accepts a probe identifier
	RulePatternIPv4          = "pattern_ipv4"          // warning: the pattern accepts an IPv4-shaped value
	RuleJSONSchema           = "json_schema"           // the JSON Schema library refused the document
)

// Format limits.
const (
	// MaxStringLength is the largest maxLength a pattern string may have.
	MaxStringLength = 128
	// MaxRetentionDays bounds x-veil.retention_days (raw rows; rollups are
	// governed by storage's retention).
	MaxRetentionDays = 400
	// DefaultRetentionDays applies when x-veil.retention_days is absent.
	DefaultRetentionDays = 30
	// MaxNameLength bounds schema and property names.
	MaxNameLength   = 128
	maxPropertyName = 64
	maxProperties   = 64
)

// Granularities.
const (
	GranularityHour = "hour"
	GranularityDay  = "day"
)

// Dialect is the only accepted $schema value (a trailing "#" is tolerated).
const Dialect = "https://json-schema.org/draft/2020-12/schema"

// Finding is one reason a schema document is refused at registration, or,
// with Warning set, something a reviewer should look at that does not
// refuse it. Property is empty for document-level findings.
type Finding struct {
	Property string `json:"property,omitempty"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
	Warning  bool   `json:"warning,omitempty"`
}

func (f Finding) String() string {
	p := f.Property
	if p == "" {
		p = "-"
	}
	if f.Warning {
		return "warning: " + p + ": " + f.Rule + ": " + f.Message
	}
	return p + ": " + f.Rule + ": " + f.Message
}

// LintError is Compile's error for a refused document.
type LintError struct {
	Findings []Finding
}

func (e *LintError) Error() string {
	if len(e.Findings) == 1 {
		return "schema: " + e.Findings[0].String()
	}
	return fmt.Sprintf("schema: %d findings, first: %s", len(e.Findings), e.Findings[0])
}

var (
	schemaNameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	propertyNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
)

var topLevelKeywords = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true, "description": true,
	"x-veil": true, "type": true, "additionalProperties": true, "required": true,
	"properties": true,
}

var propertyKeywords = map[string]bool{
	"type": true, "enum": true, "const": true, "pattern": true, "minLength": true,
	"maxLength": true, "minimum": true, "maximum": true, "exclusiveMinimum": true,
	"exclusiveMaximum": true, "multipleOf": true, "title": true, "description": true,
	"$comment": true, "deprecated": true, "x-veil-role": true, "x-veil-clamp": true,
}

// Lint checks doc against veil's schema rules and returns every finding,
// sorted by property then rule; none but warnings means Compile will
// accept it.
func Lint(doc []byte) []Finding {
	_, findings := analyze(doc, false)
	return findings
}

// parsed is what lint learns about an acceptable document.
type parsed struct {
	root        map[string]any
	name        string
	version     int
	granularity string
	retention   int
	tokens      string
	tokenEvents int
	dims        []string
	measures    []string
	release     Release
}

type linter struct {
	findings []Finding
}

func (l *linter) add(prop, rule, format string, args ...any) {
	l.findings = append(l.findings, Finding{Property: prop, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (l *linter) warn(prop, rule, format string, args ...any) {
	l.findings = append(l.findings, Finding{Property: prop, Rule: rule, Message: fmt.Sprintf(format, args...), Warning: true})
}

func decodeJSON(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("trailing data after the document")
	}
	return v, nil
}

func lint(doc []byte) (*parsed, []Finding) {
	l := &linter{}
	v, err := decodeJSON(doc)
	if err != nil {
		l.add("", RuleInvalidJSON, "%v", err)
		return nil, l.findings
	}
	root, ok := v.(map[string]any)
	if !ok {
		l.add("", RuleInvalidJSON, "the document must be a JSON object")
		return nil, l.findings
	}
	p := &parsed{root: root}
	for _, k := range sortedKeys(root) {
		if !topLevelKeywords[k] {
			l.add("", RuleUnsupportedKeyword, "keyword %q is not allowed at the top level of an event schema", k)
		}
	}
	if d, ok := root["$schema"]; ok {
		if s, _ := d.(string); strings.TrimSuffix(s, "#") != Dialect {
			l.add("", RuleDialect, "$schema must be %q", Dialect)
		}
	}
	l.xveil(root["x-veil"], p)
	if t, _ := root["type"].(string); t != "object" {
		l.add("", RuleNotObject, `type must be "object"`)
	}
	if ap, ok := root["additionalProperties"].(bool); !ok || ap {
		l.add("", RuleAdditionalProperties, "additionalProperties must be false")
	}
	props, _ := root["properties"].(map[string]any)
	if len(props) == 0 {
		l.add("", RuleNoProperties, "properties must declare at least one property")
	} else if len(props) > maxProperties {
		l.add("", RuleNoProperties, "at most %d properties", maxProperties)
	}
	if r, ok := root["required"]; ok {
		list, ok := r.([]any)
		if !ok {
			l.add("", RuleRequired, "required must be an array of property names")
		}
		for _, e := range list {
			s, ok := e.(string)
			if _, declared := props[s]; !ok || !declared {
				l.add("", RuleRequired, "required names %v, which is not a declared property", quoteShort(e))
			}
		}
	}
	for _, name := range sortedKeys(props) {
		switch l.property(name, props[name]) {
		case RoleDimension:
			p.dims = append(p.dims, name)
		case RoleMeasure:
			p.measures = append(p.measures, name)
		}
	}
	if xv, ok := root["x-veil"].(map[string]any); ok {
		l.release(xv["release"], p)
	} else {
		l.release(nil, p)
	}
	slices.SortStableFunc(l.findings, func(a, b Finding) int {
		if c := strings.Compare(a.Property, b.Property); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return p, l.findings
}

func (l *linter) xveil(v any, p *parsed) {
	xv, ok := v.(map[string]any)
	if !ok {
		l.add("", RuleXVeil, "an x-veil object with name and version is required")
		return
	}
	for _, k := range sortedKeys(xv) {
		switch k {
		case "name", "version", "granularity", "retention_days", "tokens", "token_batch_events", "release":
		default:
			l.add("", RuleXVeil, "x-veil has unknown member %q", k)
		}
	}
	name, _ := xv["name"].(string)
	if len(name) > MaxNameLength || !schemaNameRE.MatchString(name) {
		l.add("", RuleXVeil, "x-veil.name must be a lowercase dotted identifier like \"app.launch\" of at most %d characters", MaxNameLength)
	}
	p.name = name
	if ver, ok := intValue(xv["version"]); !ok || ver < 1 || ver > 1<<31-1 {
		l.add("", RuleXVeil, "x-veil.version must be an integer ≥ 1")
	} else {
		p.version = int(ver)
	}
	p.granularity = GranularityHour
	if g, ok := xv["granularity"]; ok {
		s, _ := g.(string)
		if s != GranularityHour && s != GranularityDay {
			l.add("", RuleXVeil, `x-veil.granularity must be "hour" or "day"`)
		}
		p.granularity = s
	}
	p.retention = DefaultRetentionDays
	if r, ok := xv["retention_days"]; ok {
		d, ok := intValue(r)
		if !ok || d < 1 || d > MaxRetentionDays {
			l.add("", RuleXVeil, "x-veil.retention_days must be an integer from 1 to %d", MaxRetentionDays)
		}
		p.retention = int(d)
	}
	p.tokens = TokensOff
	if v, ok := xv["tokens"]; ok {
		s, _ := v.(string)
		if s != TokensOff && s != TokensOptional && s != TokensRequired {
			l.add("", RuleXVeil, `x-veil.tokens must be "required", "optional" or "off"`)
		}
		p.tokens = s
	}
	if v, ok := xv["token_batch_events"]; ok {
		n, ok := intValue(v)
		if !ok || n < 1 || n > MaxTokenBatchEvents {
			l.add("", RuleXVeil, "x-veil.token_batch_events must be an integer from 1 to %d", MaxTokenBatchEvents)
		}
		p.tokenEvents = int(n)
	}
}

// Token policies (x-veil.tokens, issue 21): whether a batch carrying
// events of the schema must redeem a Privacy Pass token. "optional" takes
// untokened batches too, marked unverified (clients that cannot attest,
// such as web pages without an attester).
const (
	TokensOff      = "off"
	TokensOptional = "optional"
	TokensRequired = "required"
)

// MaxTokenBatchEvents bounds x-veil.token_batch_events, the most events of
// the schema one tokened batch may carry: quota × this bounds a device's
// events per window.
const MaxTokenBatchEvents = 10000

// Roles.
const (
	RoleDimension = "dimension"
	RoleMeasure   = "measure"
)

// property lints one property and returns its role when it is usable.
func (l *linter) property(name string, v any) string {
	if len(name) > maxPropertyName || !propertyNameRE.MatchString(name) {
		l.add(name, RulePropertyName, "property names start with a letter and use only letters, digits, '_', '.', '-', at most %d characters", maxPropertyName)
	} else if what, ok := identifyingName(name); ok {
		l.add(name, RuleIdentifyingName, "the name looks identifying (%s); veil stores no identifiers", what)
	}
	ps, ok := v.(map[string]any)
	if !ok {
		l.add(name, RuleInvalidType, "a property must be a schema object with a type or enum")
		return ""
	}
	typ, hasType := ps["type"]
	t, _ := typ.(string)
	switch {
	case t == "object" || ps["properties"] != nil || ps["additionalProperties"] != nil || ps["patternProperties"] != nil:
		l.add(name, RuleNestedObject, "event schemas are flat: no nested objects")
		return ""
	case t == "array" || ps["items"] != nil || ps["prefixItems"] != nil:
		l.add(name, RuleArray, "event schemas hold scalars only: no arrays")
		return ""
	}
	for _, k := range sortedKeys(ps) {
		if !propertyKeywords[k] {
			l.add(name, RuleUnsupportedKeyword, "keyword %q is not allowed in a property", k)
		}
	}
	if hasType && (t == "" || t == "null") {
		l.add(name, RuleInvalidType, `type must be one of "string", "integer", "number", "boolean"`)
		return ""
	}

	_, hasEnum := ps["enum"]
	_, hasConst := ps["const"]
	values, enumOK := l.enumValues(name, ps)
	role, _ := ps["x-veil-role"].(string)
	if role != RoleDimension && role != RoleMeasure {
		if _, present := ps["x-veil-role"]; present {
			l.add(name, RuleUnknownRole, `x-veil-role must be "dimension" or "measure"`)
		} else {
			l.add(name, RuleUnknownRole, `x-veil-role is required ("dimension" or "measure")`)
		}
		return ""
	}
	ok = true
	switch role {
	case RoleDimension:
		switch {
		case hasEnum || hasConst:
			ok = enumOK
			for _, ev := range values {
				if n, isNum := ev.(json.Number); isNum {
					if _, integral := intValue(n); !integral {
						l.add(name, RuleDimensionType, "numeric enum values of a dimension must be integers")
						ok = false
						break
					}
				}
			}
		case t == "boolean":
		case t == "integer":
			ok = l.bounded(name, ps)
		case t == "string":
			ok = l.boundedString(name, ps)
		case t == "number":
			l.add(name, RuleDimensionType, "a fractional number cannot be a dimension: use a bounded integer, or make it a measure")
			ok = false
		case !hasType:
			l.add(name, RuleInvalidType, "a dimension needs a type or an enum")
			ok = false
		default:
			l.add(name, RuleInvalidType, "unknown type %q", t)
			ok = false
		}
	case RoleMeasure:
		switch {
		case t == "integer" || t == "number":
			ok = l.bounded(name, ps)
			if hasEnum || hasConst {
				l.add(name, RuleMeasureType, "a measure is a bounded number, not an enum")
				ok = false
			}
		default:
			l.add(name, RuleMeasureType, `a measure must have type "integer" or "number"`)
			ok = false
		}
	}
	if !l.clamp(name, role, t, ps) || !ok {
		return ""
	}
	return role
}

// enumValues checks enum/const values: scalars, bounded, not identifying.
func (l *linter) enumValues(name string, ps map[string]any) ([]any, bool) {
	var values []any
	if e, ok := ps["enum"]; ok {
		list, ok := e.([]any)
		if !ok || len(list) == 0 {
			l.add(name, RuleInvalidType, "enum must be a non-empty array")
			return nil, false
		}
		values = append(values, list...)
	}
	if c, ok := ps["const"]; ok {
		values = append(values, c)
	}
	ok := true
	for _, v := range values {
		var s string
		switch v := v.(type) {
		case string:
			if len(v) > MaxStringLength {
				l.add(name, RuleUnboundedString, "enum values are at most %d bytes", MaxStringLength)
				ok = false
				continue
			}
			s = v
			if hasControl(v) {
				l.add(name, RuleControlCharacter, "enum values may not hold control characters")
				ok = false
				continue
			}
		case json.Number:
			s = v.String()
		case bool:
			continue
		case map[string]any:
			l.add(name, RuleNestedObject, "enum values must be scalars")
			ok = false
			continue
		case []any:
			l.add(name, RuleArray, "enum values must be scalars")
			ok = false
			continue
		default:
			l.add(name, RuleInvalidType, "enum values must be strings, numbers or booleans")
			ok = false
			continue
		}
		kind, hit := Detect(s)
		if n, isNum := v.(json.Number); isNum && !hit {
			kind, hit = detectNumberText(n.String())
		}
		if hit {
			// The message names the kind, never the value.
			l.add(name, RuleIdentifyingEnum, "an enum value looks like an identifier (%s)", kind)
			ok = false
		}
	}
	return values, ok
}

func (l *linter) bounded(name string, ps map[string]any) bool {
	lo := isFiniteNumber(ps["minimum"]) || isFiniteNumber(ps["exclusiveMinimum"])
	hi := isFiniteNumber(ps["maximum"]) || isFiniteNumber(ps["exclusiveMaximum"])
	if !lo || !hi {
		l.add(name, RuleUnboundedNumber, "numbers need both a minimum and a maximum (or their exclusive forms)")
		return false
	}
	return true
}

func (l *linter) boundedString(name string, ps map[string]any) bool {
	_, hasPattern := ps["pattern"].(string)
	maxLen, hasMax := intValue(ps["maxLength"])
	if !hasPattern || !hasMax || maxLen > MaxStringLength || maxLen < 0 {
		l.add(name, RuleUnboundedString, "a string dimension needs an enum, or a pattern with maxLength ≤ %d", MaxStringLength)
		return false
	}
	minLen, _ := intValue(ps["minLength"])
	return l.pattern(name, ps["pattern"].(string), int(minLen), int(maxLen))
}

func isFiniteNumber(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, ok = new(big.Rat).SetString(n.String())
	return ok
}

// intValue returns v as an integer when it is an integral JSON number.
func intValue(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		r, ok := new(big.Rat).SetString(n.String())
		if ok && r.IsInt() && r.Num().IsInt64() {
			return r.Num().Int64(), true
		}
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func quoteShort(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
