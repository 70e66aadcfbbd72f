package schema

import (
	"encoding/json"
	"math"
	"strconv"
)

// ValueType is the JSON type of a field value (RFC 8259 §3).
type ValueType uint8

// Value types. Objects and arrays carry no content in a Field: no
// property of an event schema accepts one, so only their type matters.
const (
	TypeNull ValueType = iota
	TypeBool
	TypeNumber
	TypeString
	TypeObject
	TypeArray
)

// Field is one member of an event's fields object, in the shape the
// compiled checker reads: a decoder fills it straight from the JSON text,
// without an interface value or a map per event.
type Field struct {
	Name string
	// Text is the decoded string of a TypeString value and the JSON
	// number text (RFC 8259 §6, as sent) of a TypeNumber value.
	Text string
	Type ValueType
	// Bool is the value of a TypeBool.
	Bool bool
}

// FieldsFromMap appends the members of m, values as encoding/json decodes
// them (string, bool, nil, float64 or json.Number, map[string]any,
// []any; int and int64 too), to dst and returns it. A float64 becomes
// its shortest decimal text, so 0.1 is compared as 0.1 exactly; a NaN or
// infinity, which no JSON number spells, becomes a number the checker
// answers field_type.
func FieldsFromMap(dst []Field, m map[string]any) []Field {
	for name, v := range m {
		f := Field{Name: name}
		switch v := v.(type) {
		case nil:
		case bool:
			f.Type, f.Bool = TypeBool, v
		case string:
			f.Type, f.Text = TypeString, v
		case json.Number:
			f.Type, f.Text = TypeNumber, string(v)
		case float64:
			f.Type = TypeNumber
			if math.IsNaN(v) || math.IsInf(v, 0) {
				f.Text = "NaN"
			} else {
				f.Text = strconv.FormatFloat(v, 'g', -1, 64)
			}
		case int:
			f.Type, f.Text = TypeNumber, strconv.Itoa(v)
		case int64:
			f.Type, f.Text = TypeNumber, strconv.FormatInt(v, 10)
		case []any:
			f.Type = TypeArray
		default:
			f.Type = TypeObject
		}
		dst = append(dst, f)
	}
	return dst
}

// fieldsToMap is FieldsFromMap's inverse for the reference validator:
// numbers as json.Number, objects and arrays as empty ones.
func fieldsToMap(fields []Field) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		var v any
		switch f.Type {
		case TypeBool:
			v = f.Bool
		case TypeNumber:
			v = json.Number(f.Text)
		case TypeString:
			v = f.Text
		case TypeObject:
			v = map[string]any{}
		case TypeArray:
			v = []any{}
		}
		m[f.Name] = v
	}
	return m
}
