package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The compiled checker. Registration turns a linted document into a field
// table — per property its type, typed bounds, enum set, compiled
// pattern and role — and Check reads an event's fields against it in a
// few linear passes, with no reflection, no big.Rat and no allocation
// unless it rejects. The JSON Schema library stays the reference: it
// validates the document at registration, and FuzzCheckerDifferential
// holds the two to the same answers. A document the compiler cannot
// handle is refused at registration (RuleCompiler); no registered schema
// is ever validated by the library at run time.

// RuleCompiler: the checker compiler cannot handle the document (a bound
// beyond float64, an integer dimension beyond int64, a multipleOf with
// more than 19 significant digits…).
const RuleCompiler = "compiler"

// maxCheckedProps is the most properties a compiled schema has: the
// checker keeps the properties an event names in a 64-bit set.
const maxCheckedProps = 64

// valueType names the "type" keyword's values; anyType is a property
// without one.
type valueType uint8

const (
	anyType valueType = iota
	stringType
	integerType
	numberType
	booleanType
)

type prop struct {
	name      string
	typ       valueType
	dimension bool
	info      propInfo

	enums []enumSet // enum and const, each must hold

	// Numeric keywords, each optional (has*).
	min, max, exclMin, exclMax         decimal
	hasMin, hasMax, hasExMin, hasExMax bool
	multMant                           uint64 // multipleOf = multMant × 10^multPow
	multPow                            int
	hasMult                            bool

	minLen, maxLen int // -1: absent
	pattern        *regexp.Regexp

	// The answers about this property; Check returns copies.
	rejType, rejRange, rejMissing, rejOver Rejection
}

// enumSet is the values of one enum (or const) keyword by type.
type enumSet struct {
	strs  []string
	boxed []any // strs[i] as an interface value, made once: the split
	// stores it rather than boxing the event's copy of the same string
	nums  []decimal
	bools [2]bool // [false, true]
}

func (e *enumSet) has(f *Field, num *decimal) bool {
	switch f.Type {
	case TypeString:
		return slices.Contains(e.strs, f.Text)
	case TypeBool:
		if f.Bool {
			return e.bools[1]
		}
		return e.bools[0]
	case TypeNumber:
		for i := range e.nums {
			if e.nums[i].cmp(num) == 0 {
				return true
			}
		}
	}
	return false
}

type checker struct {
	props    []prop         // sorted by name
	index    map[string]int // name → props index
	required []int          // props indexes, sorted by name
	dims     int            // dimension count
}

// compileChecker builds the checker of a document lint parsed. It returns
// findings (RuleCompiler) for what it cannot handle.
func compileChecker(root map[string]any) (*checker, []Finding) {
	var findings []Finding
	refuse := func(prop, format string, args ...any) {
		findings = append(findings, Finding{Property: prop, Rule: RuleCompiler, Message: fmt.Sprintf(format, args...)})
	}
	for _, k := range sortedKeys(root) {
		if !topLevelKeywords[k] {
			refuse("", "keyword %q is outside what the checker compiles", k)
		}
	}
	props, _ := root["properties"].(map[string]any)
	if len(props) > maxCheckedProps {
		refuse("", "more than %d properties", maxCheckedProps)
		return nil, findings
	}
	c := &checker{index: make(map[string]int, len(props))}
	for _, name := range sortedKeys(props) {
		ps, ok := props[name].(map[string]any)
		if !ok {
			refuse(name, "a property must be a schema object")
			continue
		}
		p, msgs := compileProp(name, ps)
		for _, m := range msgs {
			refuse(name, "%s", m)
		}
		c.index[name] = len(c.props)
		c.props = append(c.props, p)
		if p.dimension {
			c.dims++
		}
	}
	if r, ok := root["required"]; ok {
		list, _ := r.([]any)
		for _, e := range list {
			s, _ := e.(string)
			i, declared := c.index[s]
			if !declared {
				refuse("", "required names a property that is not declared")
				continue
			}
			if !slices.Contains(c.required, i) {
				c.required = append(c.required, i)
			}
		}
		if !ok || list == nil {
			refuse("", "required must be an array of names")
		}
		slices.Sort(c.required) // props are sorted by name, so indexes are too
	}
	if len(findings) > 0 {
		return nil, findings
	}
	return c, nil
}

func compileProp(name string, ps map[string]any) (prop, []string) {
	p := prop{name: name, minLen: -1, maxLen: -1, info: newPropInfo(ps)}
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	for _, k := range sortedKeys(ps) {
		if !propertyKeywords[k] {
			bad("keyword %q is outside what the checker compiles", k)
		}
	}
	if t, ok := ps["type"]; ok {
		switch t {
		case "string":
			p.typ = stringType
		case "integer":
			p.typ = integerType
		case "number":
			p.typ = numberType
		case "boolean":
			p.typ = booleanType
		default:
			bad("type must be one of \"string\", \"integer\", \"number\", \"boolean\"")
		}
	}
	role, _ := ps["x-veil-role"].(string)
	p.dimension = role == RoleDimension
	if role != RoleDimension && role != RoleMeasure {
		bad("x-veil-role must be \"dimension\" or \"measure\"")
	}
	num := func(kw string, d *decimal, has *bool) {
		v, ok := ps[kw]
		if !ok {
			return
		}
		n, isNum := v.(json.Number)
		if !isNum || !parseDecimal(string(n), d) || d.exp > maxBoundExp || d.exp < -maxBoundExp {
			bad("%s must be a number of at most %d characters within float64's range", kw, maxNumberText)
			return
		}
		if f, err := strconv.ParseFloat(string(n), 64); err != nil || math.IsInf(f, 0) {
			bad("%s must be within float64's range", kw)
			return
		}
		*has = true
	}
	num("minimum", &p.min, &p.hasMin)
	num("maximum", &p.max, &p.hasMax)
	num("exclusiveMinimum", &p.exclMin, &p.hasExMin)
	num("exclusiveMaximum", &p.exclMax, &p.hasExMax)
	var mult decimal
	num("multipleOf", &mult, &p.hasMult)
	if p.hasMult {
		m, pow, ok := mult.mantissa()
		if !ok || mult.neg || mult.isZero() {
			bad("multipleOf must be a positive number of at most 19 significant digits")
			p.hasMult = false
		}
		p.multMant, p.multPow = m, pow
	}
	length := func(kw string, dst *int) {
		v, ok := ps[kw]
		if !ok {
			return
		}
		n, ok := intValue(v)
		if !ok || n < 0 || n > math.MaxInt32 {
			bad("%s must be a non-negative integer", kw)
			return
		}
		*dst = int(n)
	}
	length("minLength", &p.minLen)
	length("maxLength", &p.maxLen)
	if v, ok := ps["pattern"]; ok {
		s, isStr := v.(string)
		re, err := regexp.Compile(s)
		if !isStr || err != nil {
			bad("pattern must be a regular expression")
		}
		p.pattern = re
	}
	for _, kw := range [...]string{"enum", "const"} {
		v, ok := ps[kw]
		if !ok {
			continue
		}
		values := []any{v}
		if kw == "enum" {
			values, _ = v.([]any)
			if values == nil {
				bad("enum must be an array")
				continue
			}
		}
		var set enumSet
		for _, ev := range values {
			switch ev := ev.(type) {
			case string:
				set.strs = append(set.strs, ev)
				set.boxed = append(set.boxed, ev)
			case bool:
				if ev {
					set.bools[1] = true
				} else {
					set.bools[0] = true
				}
			case json.Number:
				var d decimal
				if !parseDecimal(string(ev), &d) || d.exp > maxBoundExp || d.exp < -maxBoundExp {
					bad("%s numbers must be at most %d characters within float64's range", kw, maxNumberText)
					continue
				}
				set.nums = append(set.nums, d)
			default:
				bad("%s values must be strings, numbers or booleans", kw)
			}
		}
		p.enums = append(p.enums, set)
	}
	// A dimension's integers are stored as int64: every value the
	// property accepts must fit.
	if p.dimension && p.typ != stringType && p.typ != booleanType {
		for _, set := range p.enums {
			for i := range set.nums {
				if _, ok := set.nums[i].int64(); !ok {
					bad("numeric dimension values must be integers within int64")
				}
			}
		}
		if len(p.enums) == 0 {
			lo := p.hasMin && inInt64(&p.min) || p.hasExMin && inInt64(&p.exclMin)
			hi := p.hasMax && inInt64(&p.max) || p.hasExMax && inInt64(&p.exclMax)
			if !lo || !hi {
				bad("an integer dimension needs both bounds within int64")
			}
		}
	}
	p.rejType = *rejection(ReasonFieldType, name)
	p.rejRange = *rejection(ReasonFieldOutOfRange, name)
	p.rejMissing = *rejection(ReasonFieldMissing, name)
	return p, msgs
}

// inInt64 reports whether d lies within int64's range.
func inInt64(d *decimal) bool {
	return d.cmp(&minInt64) >= 0 && d.cmp(&maxInt64) <= 0
}

var minInt64, maxInt64 = mustDecimal("-9223372036854775808"), mustDecimal("9223372036854775807")

func mustDecimal(s string) decimal {
	var d decimal
	if !parseDecimal(s, &d) {
		panic("schema: bad decimal constant " + s)
	}
	return d
}

// Check results, ranked as Check documents: lower wins.
const (
	rankMissing = 1
	rankType    = 2
	rankRange   = 3
)

// check is Check on the compiled field table; when split is set and it
// accepts the event, it also returns the event's dimensions and measures.
func (c *checker) check(fields []Field, split bool) (*Rejection, map[string]any, map[string]float64) {
	// Pass 1: every name declared, no name twice, no value too long to
	// read. An event naming more fields than the schema declares has an
	// undeclared or a repeated one; both are found here.
	var hasUnknown bool
	var unknown, oversize, overReason string
	var over *prop
	var seen uint64
	dup := false
	var idxBuf [maxCheckedProps]uint8
	idx := idxBuf[:0]
	for i := range fields {
		f := &fields[i]
		pi, declared := c.index[f.Name]
		if !declared {
			if !hasUnknown || f.Name < unknown {
				hasUnknown, unknown = true, f.Name
			}
			continue
		}
		if seen&(1<<pi) != 0 {
			dup = true
			continue
		}
		seen |= 1 << pi
		if len(idx) < cap(idx) {
			idx = append(idx, uint8(pi))
		}
		p := &c.props[pi]
		if r := p.info.oversizeField(f); r != "" && (oversize == "" || f.Name < oversize) {
			oversize, overReason, over = f.Name, r, p
		}
	}
	if hasUnknown {
		return rejection(ReasonFieldUnknown, unknown), nil, nil
	}
	if dup {
		// A decoder that follows RFC 8259's advice refuses repeated names
		// before this; a map cannot hold them.
		return &Rejection{Reason: ReasonSchemaInvalidEvent}, nil, nil
	}
	if over != nil {
		r := over.rejRange
		if overReason == ReasonFieldType {
			r = over.rejType
		}
		return &r, nil, nil
	}
	// Pass 2: the identifier detectors over every value that could carry
	// one, then control characters.
	var hitField, hitKind, controlField string
	for i := range fields {
		f := &fields[i]
		var kind string
		var hit bool
		switch f.Type {
		case TypeString:
			kind, hit = Detect(f.Text)
			if !hit && hasControl(f.Text) && (controlField == "" || f.Name < controlField) {
				controlField = f.Name
			}
		case TypeNumber:
			if c.props[idx[i]].info.scanNumbers {
				kind, hit = detectNumberText(f.Text)
			}
		}
		if hit && (hitKind == "" || f.Name < hitField) {
			hitField, hitKind = f.Name, kind
		}
	}
	if hitKind != "" {
		return rejection("identifier_"+hitKind, hitField), nil, nil
	}
	if controlField != "" {
		return rejection(ReasonFieldControlCharacter, controlField), nil, nil
	}
	// Pass 3: required fields (indexes sorted by name: the first missing
	// is the smallest).
	for _, ri := range c.required {
		if seen&(1<<ri) == 0 {
			r := c.props[ri].rejMissing
			return &r, nil, nil
		}
	}
	// Pass 4: each value against its property.
	var best *Rejection
	bestRank := math.MaxInt
	for i := range fields {
		p := &c.props[idx[i]]
		rank := p.validate(&fields[i])
		if rank == 0 {
			continue
		}
		if rank < bestRank || rank == bestRank && p.name < best.Field {
			bestRank = rank
			if rank == rankType {
				best = &p.rejType
			} else {
				best = &p.rejRange
			}
		}
	}
	if best != nil {
		r := *best
		return &r, nil, nil
	}
	if !split {
		return nil, nil, nil
	}
	dims, measures := c.split(fields, idx)
	return nil, dims, measures
}

// validate returns 0 when f satisfies p, else the rank of the answer:
// rankType when its type is wrong, rankRange for any other keyword.
func (p *prop) validate(f *Field) int {
	var num decimal
	switch f.Type {
	case TypeNumber:
		if !parseDecimal(f.Text, &num) {
			return rankType
		}
		switch p.typ {
		case anyType, numberType:
		case integerType:
			if !num.integral() {
				return rankType
			}
		default:
			return rankType
		}
	case TypeString:
		if p.typ != anyType && p.typ != stringType {
			return rankType
		}
	case TypeBool:
		if p.typ != anyType && p.typ != booleanType {
			return rankType
		}
	default:
		if p.typ != anyType {
			return rankType
		}
	}
	for i := range p.enums {
		if !p.enums[i].has(f, &num) {
			return rankRange
		}
	}
	switch f.Type {
	case TypeNumber:
		if p.hasMin && num.cmp(&p.min) < 0 || p.hasMax && num.cmp(&p.max) > 0 ||
			p.hasExMin && num.cmp(&p.exclMin) <= 0 || p.hasExMax && num.cmp(&p.exclMax) >= 0 {
			return rankRange
		}
		if p.hasMult && !num.multipleOf(p.multMant, p.multPow) {
			return rankRange
		}
	case TypeString:
		if p.minLen >= 0 || p.maxLen >= 0 {
			n := utf8.RuneCountInString(f.Text)
			if p.minLen >= 0 && n < p.minLen || p.maxLen >= 0 && n > p.maxLen {
				return rankRange
			}
		}
		if p.pattern != nil && !p.pattern.MatchString(f.Text) {
			return rankRange
		}
	}
	return 0
}

// split builds an accepted event's dimensions and measures.
// idx[i] is the property of fields[i].
func (c *checker) split(fields []Field, idx []uint8) (map[string]any, map[string]float64) {
	dims := make(map[string]any, c.dims)
	measures := make(map[string]float64, len(c.props)-c.dims)
	for i := range fields {
		f := &fields[i]
		p := &c.props[idx[i]]
		if !p.dimension {
			if f.Type != TypeNumber {
				continue
			}
			if v, err := strconv.ParseFloat(f.Text, 64); err == nil {
				measures[p.name] = v
			}
			continue
		}
		switch f.Type {
		case TypeString:
			dims[p.name] = p.boxString(f.Text)
		case TypeBool:
			dims[p.name] = f.Bool
		case TypeNumber:
			var d decimal
			if parseDecimal(f.Text, &d) {
				if v, ok := d.int64(); ok {
					dims[p.name] = v
				}
			}
		}
	}
	return dims, measures
}

// boxString returns s as an interface value: the enum's own when s is
// one of its values (no allocation, and nothing of the request body kept),
// else s itself.
func (p *prop) boxString(s string) any {
	for i := range p.enums {
		if j := slices.Index(p.enums[i].strs, s); j >= 0 {
			return p.enums[i].boxed[j]
		}
	}
	return s
}

// oversizeField is oversize for a Field.
func (p propInfo) oversizeField(f *Field) string {
	switch f.Type {
	case TypeString:
		if len(f.Text) > p.maxBytes {
			return p.stringOver
		}
	case TypeNumber:
		if len(f.Text) > maxNumberText {
			return p.numberOver
		}
	}
	return ""
}
