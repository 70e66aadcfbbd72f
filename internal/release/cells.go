package release

import (
	"bytes"
	"encoding/json"
	"math"
)

// Key identifies a cell within a grouping: the JSON array of its
// dimension values in the grouping's order, null for an absent value,
// integers as integers (["ios", null]).
type Key string

// normalize maps a dimension value onto the forms Key uses: string, bool,
// int64 or nil.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f)
		}
		return v.String()
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<63 {
			return int64(v)
		}
		return v
	case int:
		return int64(v)
	}
	return v
}

// KeyOf returns the key of a cell's values (in grouping order).
func KeyOf(values []any) Key {
	norm := make([]any, len(values))
	for i, v := range values {
		norm[i] = normalize(v)
	}
	b, err := json.Marshal(norm)
	if err != nil {
		// Only strings, bools, int64 and nil reach here.
		panic("release: encoding a cell key: " + err.Error())
	}
	return Key(b)
}

// Values decodes a key back into its values.
func (k Key) Values() ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(k)))
	dec.UseNumber()
	var vs []any
	if err := dec.Decode(&vs); err != nil {
		return nil, err
	}
	for i := range vs {
		vs[i] = normalize(vs[i])
	}
	return vs, nil
}

// Cell is one cell of a grouping in one bucket, as the source has it:
// exact, never released as such.
type Cell struct {
	// Values are the grouping's dimension values, in its order; nil for
	// an absent one.
	Values   []any
	Count    int64
	Measures map[string]MeasureCell
}

// MeasureCell is one measure of a cell: how many events carried it, the
// (unclamped) sum of their values and, when the source keeps one, their
// histogram.
type MeasureCell struct {
	Count int64
	Sum   float64
	Hist  *Histogram
}
